//! Tables sized to the terminal: numbers and money right-aligned, free text shortened with `…`
//! when a row would not fit (never numbers, money or identifiers such as card numbers), colours
//! applied after padding so alignment never counts escape codes.

use unicode_width::{UnicodeWidthChar as _, UnicodeWidthStr as _};

use super::ui::{Style, Ui, status_style};

/// What a column holds, which decides how it lines up and whether it may be shortened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    /// Free text (names, emails): left-aligned, shortened first when space runs out.
    Text,
    /// Identifiers and times (card numbers, tx numbers): left-aligned, never shortened.
    Id,
    /// Numbers and money: right-aligned, never shortened.
    Number,
}

/// One cell: its text and an optional style.
#[derive(Debug, Clone)]
pub struct Cell {
    text: String,
    style: Option<Style>,
}

impl Cell {
    /// Text without style.
    pub fn plain(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), style: None }
    }

    /// A status word, coloured by what it means.
    pub fn status(text: impl Into<String>) -> Cell {
        let text = text.into();
        let style = status_style(&text);
        Cell { text, style }
    }

    /// Text in a style.
    pub fn styled(text: impl Into<String>, style: Style) -> Cell {
        Cell { text: text.into(), style: Some(style) }
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell::plain(text)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::plain(text)
    }
}

/// A table under construction.
#[derive(Debug)]
pub struct Table {
    columns: Vec<(&'static str, Column)>,
    rows: Vec<Vec<Cell>>,
}

const GAP: usize = 2;
const MIN_SHRUNK: usize = 6;

impl Table {
    /// A table with these headers and kinds of column.
    pub fn new(columns: &[(&'static str, Column)]) -> Table {
        Table { columns: columns.to_vec(), rows: Vec::new() }
    }

    /// Adds a row; missing cells print empty.
    pub fn row(&mut self, cells: Vec<Cell>) {
        self.rows.push(cells);
    }

    /// Prints the table, or `empty` when it has no rows.
    pub fn print(&self, ui: &Ui, empty: &str) {
        if self.rows.is_empty() {
            println!("{}", ui.paint(Style::Dim, empty));
            return;
        }
        for line in self.render(ui) {
            println!("{line}");
        }
    }

    /// The lines of the table within `ui.width` columns.
    pub fn render(&self, ui: &Ui) -> Vec<String> {
        let widths = self.fit(ui.width);
        let header: Vec<Cell> = self.columns.iter().map(|(name, _)| Cell::styled(*name, Style::Bold)).collect();
        std::iter::once(&header).chain(&self.rows).map(|cells| self.line(ui, cells, &widths)).collect()
    }

    fn line(&self, ui: &Ui, cells: &[Cell], widths: &[usize]) -> String {
        let mut parts = Vec::with_capacity(self.columns.len());
        for (i, (_, kind)) in self.columns.iter().enumerate() {
            let cell = cells.get(i).cloned().unwrap_or_else(|| Cell::plain(""));
            let text = shorten(&cell.text, widths[i]);
            let pad = " ".repeat(widths[i].saturating_sub(text.width()));
            let text = match cell.style {
                Some(style) => ui.paint(style, &text),
                None => text,
            };
            parts.push(match kind {
                Column::Text | Column::Id => format!("{text}{pad}"),
                Column::Number => format!("{pad}{text}"),
            });
        }
        parts.join(&" ".repeat(GAP)).trim_end().to_owned()
    }

    /// Column widths: natural, then the widest free-text columns shortened until the row fits.
    fn fit(&self, available: usize) -> Vec<usize> {
        let mut widths: Vec<usize> = self.columns.iter().map(|(name, _)| name.width()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(widths.len()) {
                widths[i] = widths[i].max(cell.text.width());
            }
        }
        let total = |w: &[usize]| w.iter().sum::<usize>() + GAP * w.len().saturating_sub(1);
        while total(&widths) > available {
            let widest = (0..widths.len())
                .filter(|&i| self.columns[i].1 == Column::Text && widths[i] > MIN_SHRUNK)
                .max_by_key(|&i| widths[i]);
            match widest {
                Some(i) => widths[i] -= 1,
                None => break,
            }
        }
        widths
    }
}

/// `text` cut to `width` display columns, ending in `…` when cut.
fn shorten(text: &str, width: usize) -> String {
    if text.width() <= width {
        return text.to_owned();
    }
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let w = c.width().unwrap_or(0);
        if used + w + 1 > width {
            break;
        }
        out.push(c);
        used += w;
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ui(width: usize) -> Ui {
        Ui { json: false, color: false, width, interactive: false, spinner: false }
    }

    fn sample() -> Table {
        let mut table = Table::new(&[("CARD", Column::Id), ("NAME", Column::Text), ("BALANCE", Column::Number)]);
        table.row(vec!["STD00000001".into(), "A rather long card name indeed".into(), "1234.50".into()]);
        table.row(vec!["VCH00000002".into(), "会员卡".into(), "5.00".into()]);
        table
    }

    #[test]
    fn money_is_right_aligned() {
        let lines = sample().render(&ui(120));
        assert!(lines[1].ends_with("1234.50"), "{lines:?}");
        assert!(lines[2].ends_with("   5.00"), "{lines:?}");
    }

    #[test]
    fn rows_are_shortened_to_the_terminal_width() {
        let lines = sample().render(&ui(40));
        for line in &lines {
            assert!(line.width() <= 40, "{line:?} is wider than 40");
        }
        assert!(lines[1].contains('…'), "{lines:?}");
        assert!(lines[1].ends_with("1234.50"), "money is never cut: {lines:?}");
        assert!(lines[1].starts_with("STD00000001 "), "identifiers are never cut: {lines:?}");
    }

    #[test]
    fn wide_characters_count_double() {
        let lines = sample().render(&ui(120));
        let name_end = |line: &str| line.find("5.00").or_else(|| line.find("1234.50")).map(|i| line[..i].width());
        assert_eq!(name_end(&lines[1]).map(|w| w + 3), name_end(&lines[2]), "{lines:?}");
    }
}
