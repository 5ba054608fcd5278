//! Terminal output: colours (only on a TTY, never with `NO_COLOR`), the terminal's width,
//! aligned key/value blocks, times in local time, and a spinner for slow calls.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, Local, Utc};
use serde_json::Value;
use unicode_width::UnicodeWidthStr as _;

/// How this process writes to the terminal.
#[derive(Debug, Clone, Copy)]
pub struct Ui {
    /// Print the API's JSON instead of tables.
    pub json: bool,
    /// stdout takes ANSI colours.
    pub color: bool,
    /// Columns available on stdout.
    pub width: usize,
    /// stdout is a terminal (live countdowns make sense).
    pub interactive: bool,
    /// stderr is a terminal (spinners make sense).
    pub spinner: bool,
}

/// Colours and weights used in output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Bold,
    Dim,
    Green,
    Yellow,
    Red,
}

const DEFAULT_WIDTH: usize = 100;

impl Ui {
    /// Looks at the real terminal and the environment.
    pub fn detect(json: bool) -> Ui {
        let interactive = std::io::stdout().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let width = terminal_size::terminal_size()
            .map(|(w, _)| usize::from(w.0))
            .or_else(|| std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()))
            .filter(|w| *w >= 20)
            .unwrap_or(DEFAULT_WIDTH);
        Ui { json, color: interactive && !no_color, width, interactive, spinner: std::io::stderr().is_terminal() }
    }

    /// `text` in `style` when colours are on.
    pub fn paint(&self, style: Style, text: &str) -> String {
        if !self.color {
            return text.to_owned();
        }
        let code = match style {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Green => "32",
            Style::Yellow => "33",
            Style::Red => "31",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    }

    /// A title line.
    pub fn heading(&self, text: &str) {
        println!("{}", self.paint(Style::Bold, text));
    }

    /// Labels and values, labels padded to one width; values that look like money line up right.
    pub fn kv(&self, pairs: &[(&str, String)]) {
        let label_width = pairs.iter().map(|(label, _)| label.width()).max().unwrap_or(0);
        let money_width = pairs.iter().filter(|(_, v)| looks_like_money(v)).map(|(_, v)| v.width()).max();
        for (label, value) in pairs {
            let value = match money_width {
                Some(width) if looks_like_money(value) => format!("{value:>width$}"),
                _ => value.clone(),
            };
            println!("  {}  {value}", self.paint(Style::Dim, &format!("{label:<label_width$}")));
        }
    }

    /// The named fields of a JSON object that it has, as [`Ui::kv`]; `…_at` fields in local time.
    pub fn kv_of(&self, object: &Value, fields: &[&str]) {
        let pairs: Vec<(&str, String)> = fields
            .iter()
            .filter(|field| !object[**field].is_null())
            .map(|field| {
                let value = &object[*field];
                let text = if field.ends_with("_at") { local_time_of(value) } else { text_of(value) };
                (*field, text)
            })
            .collect();
        self.kv(&pairs);
    }

    /// Prints a JSON value, pretty.
    pub fn print_json(&self, value: &Value) {
        println!("{}", serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
    }
}

/// The style that suits a status word.
pub fn status_style(status: &str) -> Option<Style> {
    match status {
        "active" | "completed" | "healthy" | "up" | "paid" | "settled" | "succeeded" => Some(Style::Green),
        "processing" | "pending" | "inactive" | "degraded" | "refunded" | "disabled" => Some(Style::Yellow),
        "failed" | "suspended" | "unhealthy" | "down" | "closed" | "lost" | "expired" | "cancelled" => Some(Style::Red),
        _ => None,
    }
}

fn looks_like_money(text: &str) -> bool {
    let digits = text.trim_start_matches(['-', '+']);
    matches!(digits.split_once('.'), Some((int, frac)) if !int.is_empty() && frac.len() == 2
        && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()))
}

/// A time as the user reads it: local, to the minute.
pub fn local_time(time: DateTime<Utc>) -> String {
    time.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string()
}

/// A JSON time string in local time; other values as they are.
pub fn local_time_of(value: &Value) -> String {
    match value.as_str().map(DateTime::parse_from_rfc3339) {
        Some(Ok(time)) => local_time(time.with_timezone(&Utc)),
        _ => text_of(value),
    }
}

/// A JSON value as plain text: strings without quotes, null as empty.
pub fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The wire name of a serialisable enum value (`"completed"` → `completed`).
pub fn wire(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value).map(|v| text_of(&v)).unwrap_or_default()
}

/// A spinner on stderr while a request is slow; it clears its line when dropped.
pub struct Spinner {
    task: Option<tokio::task::JoinHandle<()>>,
    drawn: Arc<AtomicBool>,
}

impl Spinner {
    /// Starts after a short delay, so fast calls show nothing.
    pub fn start(enabled: bool, label: &str) -> Spinner {
        let drawn = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Spinner { task: None, drawn };
        }
        let (label, flag) = (label.to_owned(), drawn.clone());
        let task = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
            for frame in frames.iter().cycle() {
                flag.store(true, Ordering::Relaxed);
                eprint!("\r{frame} {label}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Spinner { task: Some(task), drawn }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if self.drawn.load(Ordering::Relaxed) {
            eprint!("\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_recognised_for_right_alignment() {
        assert!(looks_like_money("25.00"));
        assert!(looks_like_money("-5.10"));
        assert!(!looks_like_money("0.950x"));
        assert!(!looks_like_money("STD00000001"));
        assert!(!looks_like_money("1.5"));
    }

    #[test]
    fn colours_are_off_when_not_wanted() {
        let ui = Ui { json: false, color: false, width: 80, interactive: false, spinner: false };
        assert_eq!(ui.paint(Style::Red, "x"), "x");
        let ui = Ui { color: true, ..ui };
        assert_eq!(ui.paint(Style::Red, "x"), "\x1b[31mx\x1b[0m");
    }
}
