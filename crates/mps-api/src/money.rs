//! Exact money: amounts with two decimal places and discount multipliers, never floats.
//!
//! Amounts travel as decimal strings (`"284.05"`). Requests may send a string or a JSON number;
//! either way the decimal *text* is parsed (serde_json keeps numbers' text with
//! `arbitrary_precision`), so `12.500000000000001` is refused rather than rounded.

use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{ErrorCode, InputError};

/// A positive or zero amount of money with exactly two decimal places.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(transparent))]
pub struct Money(Decimal);

/// Why a text is not an acceptable amount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoneyError {
    /// Not plain decimal text (a sign, an exponent, whitespace, no digits, too many digits).
    NotADecimal,
    /// More than two decimal places once trailing zeros are dropped.
    TooManyDecimals,
    /// Zero.
    NotPositive,
    /// Above the configured maximum, which it carries.
    AboveMaximum(Money),
}

impl std::fmt::Display for MoneyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MoneyError::NotADecimal => f.write_str("must be a decimal such as \"12.50\" (no exponent)"),
            MoneyError::TooManyDecimals => f.write_str("must have at most 2 decimal places"),
            MoneyError::NotPositive => f.write_str("must be greater than 0"),
            MoneyError::AboveMaximum(max) => write!(f, "must not exceed {max}"),
        }
    }
}

impl Money {
    /// `0.00`.
    pub const ZERO: Money = Money(Decimal::ZERO);

    /// Wraps a decimal already known to be an amount (e.g. read from `numeric(12,2)`).
    pub fn from_decimal(value: Decimal) -> Money {
        let mut value = value;
        value.rescale(2);
        Money(value)
    }

    /// Parses plain decimal text: digits, an optional fraction, no sign, exponent or surrounding
    /// whitespace (a payment API does not guess what `" 10"` meant), > 0, at most two decimals
    /// once trailing zeros are dropped.
    pub fn parse_text(text: &str) -> Result<Money, MoneyError> {
        let (int_part, frac_part) = text.split_once('.').unwrap_or((text, ""));
        let digits_only = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if int_part.is_empty()
            || !digits_only(int_part)
            || !digits_only(frac_part)
            || (text.contains('.') && frac_part.is_empty())
        {
            return Err(MoneyError::NotADecimal);
        }
        if frac_part.trim_end_matches('0').len() > 2 {
            return Err(MoneyError::TooManyDecimals);
        }
        // Leading zeros and long runs of trailing zeros cannot overflow Decimal's 28 digits.
        let int_part = int_part.trim_start_matches('0');
        if int_part.len() > 15 {
            return Err(MoneyError::NotADecimal);
        }
        let frac = frac_part.trim_end_matches('0');
        let normalized = format!(
            "{}.{}",
            if int_part.is_empty() { "0" } else { int_part },
            if frac.is_empty() { "0" } else { frac }
        );
        let value: Decimal = normalized.parse().map_err(|_| MoneyError::NotADecimal)?;
        if value <= Decimal::ZERO {
            return Err(MoneyError::NotPositive);
        }
        Ok(Money::from_decimal(value))
    }

    /// Parses an amount and checks it against the configured maximum.
    pub fn parse_with_max(text: &str, max: Decimal) -> Result<Money, MoneyError> {
        let money = Money::parse_text(text)?;
        if money.0 > max {
            return Err(MoneyError::AboveMaximum(Money::from_decimal(max)));
        }
        Ok(money)
    }

    /// The amount as a decimal with two places.
    pub fn amount(self) -> Decimal {
        self.0
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Reads what the API itself writes: a decimal string with up to two places (zero allowed).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value: Decimal = text.parse().map_err(serde::de::Error::custom)?;
        if value.is_sign_negative() && !value.is_zero() || value.scale() > 2 {
            return Err(serde::de::Error::custom("not a non-negative amount with 2 decimals"));
        }
        Ok(Money::from_decimal(value))
    }
}

impl utoipa::PartialSchema for Money {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[0-9]+\.[0-9]{2}$"))
            .examples(["284.05"])
            .description(Some("Exact amount with two decimal places, as a string"))
            .into()
    }
}

impl utoipa::ToSchema for Money {}

/// An amount exactly as a client sent it (string or JSON number text), not yet validated.
///
/// Handlers turn it into [`Money`] with [`AmountInput::to_money`], so a bad amount answers
/// 422 `INVALID_AMOUNT` rather than a generic body error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AmountInput(String);

impl AmountInput {
    /// The text as a client would send it.
    pub fn new(text: impl Into<String>) -> Self {
        AmountInput(text.into())
    }

    /// Validates the amount against the configured maximum; `field` names it in the error.
    pub fn to_money(&self, field: &str, max: Decimal) -> Result<Money, InputError> {
        Money::parse_with_max(&self.0, max).map_err(|problem| {
            InputError::new(ErrorCode::InvalidAmount, format!("`{field}` {problem}"))
                .with_details(serde_json::json!({ "fields": { field: problem.to_string() } }))
        })
    }
}

impl<'de> Deserialize<'de> for AmountInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => Ok(AmountInput(text)),
            // With `arbitrary_precision` the number keeps the exact text the client sent.
            serde_json::Value::Number(number) => Ok(AmountInput(number.to_string())),
            _ => Err(serde::de::Error::custom("expected an amount as a string such as \"12.50\" or a number")),
        }
    }
}

impl Serialize for AmountInput {
    /// As a string, so a client never sends an amount through a float.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl From<Money> for AmountInput {
    fn from(money: Money) -> Self {
        AmountInput(money.to_string())
    }
}

impl utoipa::PartialSchema for AmountInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).examples(["12.50"]))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some("Amount > 0 with at most 2 decimal places, as a string or JSON number (no exponent)"))
            .into()
    }
}

impl utoipa::ToSchema for AmountInput {}

/// A decimal exactly as a client sent it (string or JSON number text), such as a discount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecimalInput(String);

impl DecimalInput {
    /// The text as a client would send it.
    pub fn new(text: impl Into<String>) -> Self {
        DecimalInput(text.into())
    }

    /// Parses plain decimal text (digits, an optional fraction; no sign, exponent or surrounding
    /// whitespace) exactly; anything else is a 422 `VALIDATION_FAILED` naming `field`.
    pub fn parse(&self, field: &str) -> Result<Decimal, InputError> {
        let text = self.0.as_str();
        let (int_part, frac_part) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(int_part) || (text.contains('.') && !digits(frac_part)) {
            return Err(InputError::validation(field, "must be a decimal such as \"0.95\" (no sign or exponent)"));
        }
        text.parse().map_err(|_| InputError::validation(field, "must be a decimal such as \"0.95\""))
    }
}

impl<'de> Deserialize<'de> for DecimalInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        AmountInput::deserialize(deserializer).map(|AmountInput(text)| DecimalInput(text))
    }
}

impl utoipa::PartialSchema for DecimalInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::String).examples(["0.95"]))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .description(Some("Decimal as a string or JSON number (no sign or exponent)"))
            .into()
    }
}

impl utoipa::ToSchema for DecimalInput {}

/// A price multiplier in (0, 1] with three decimal places, e.g. `0.950`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(transparent))]
pub struct Discount(Decimal);

impl Discount {
    /// Wraps a multiplier already known to be in (0, 1] (e.g. read from `numeric(4,3)`).
    pub fn from_decimal(value: Decimal) -> Discount {
        let mut value = value;
        value.rescale(3);
        Discount(value)
    }

    /// The multiplier as a decimal with three places.
    pub fn value(self) -> Decimal {
        self.0
    }
}

impl std::fmt::Display for Discount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.3}", self.0)
    }
}

impl Serialize for Discount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Discount {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(text) => text,
            serde_json::Value::Number(number) => number.to_string(),
            _ => return Err(serde::de::Error::custom("expected a discount such as \"0.950\"")),
        };
        let value: Decimal = text
            .parse()
            .ok()
            .filter(|d: &Decimal| *d > Decimal::ZERO && *d <= Decimal::ONE && d.normalize().scale() <= 3)
            .ok_or_else(|| serde::de::Error::custom("a discount is a multiplier in (0, 1] with at most 3 decimals"))?;
        Ok(Discount::from_decimal(value))
    }
}

impl utoipa::PartialSchema for Discount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^[01]\.[0-9]{3}$"))
            .examples(["0.950"])
            .description(Some("Price multiplier in (0, 1], three decimals"))
            .into()
    }
}

impl utoipa::ToSchema for Discount {}

/// An amount that may be negative, such as a settlement's net; two decimal places on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(transparent))]
pub struct SignedMoney(Decimal);

impl SignedMoney {
    /// Wraps a decimal amount, rescaled to two places.
    pub fn from_decimal(value: Decimal) -> SignedMoney {
        let mut value = value;
        value.rescale(2);
        SignedMoney(value)
    }

    /// The amount as a decimal with two places.
    pub fn amount(self) -> Decimal {
        self.0
    }
}

impl std::fmt::Display for SignedMoney {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2}", self.0)
    }
}

impl Serialize for SignedMoney {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SignedMoney {
    /// Reads what the API itself writes: a decimal string with up to two places.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let value: Decimal = text.parse().map_err(serde::de::Error::custom)?;
        if value.scale() > 2 {
            return Err(serde::de::Error::custom("not an amount with 2 decimals"));
        }
        Ok(SignedMoney::from_decimal(value))
    }
}

impl utoipa::PartialSchema for SignedMoney {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(r"^-?[0-9]+\.[0-9]{2}$"))
            .examples(["-12.50"])
            .description(Some("Exact amount with two decimal places, possibly negative, as a string"))
            .into()
    }
}

impl utoipa::ToSchema for SignedMoney {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<String, MoneyError> {
        Money::parse_text(text).map(|m| m.to_string())
    }

    #[test]
    fn plain_amounts_parse_exactly_to_two_places() {
        assert_eq!(parse("284.05").as_deref(), Ok("284.05"));
        assert_eq!(parse("7").as_deref(), Ok("7.00"));
        assert_eq!(parse("0.01").as_deref(), Ok("0.01"));
        assert_eq!(parse("12.500000").as_deref(), Ok("12.50"));
        assert_eq!(parse("007.10").as_deref(), Ok("7.10"));
    }

    #[test]
    fn amounts_that_are_not_exact_cents_are_refused() {
        assert_eq!(parse("12.500000000000001"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse("0.001"), Err(MoneyError::TooManyDecimals));
        assert_eq!(parse("1e3"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("1.5E1"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("-5"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("+5"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("5."), Err(MoneyError::NotADecimal));
        assert_eq!(parse(".5"), Err(MoneyError::NotADecimal));
        assert_eq!(parse(""), Err(MoneyError::NotADecimal));
        assert_eq!(parse("NaN"), Err(MoneyError::NotADecimal));
        assert_eq!(parse(" 10"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("10 "), Err(MoneyError::NotADecimal));
        assert_eq!(parse("\t10.00\n"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("9999999999999999999999999999"), Err(MoneyError::NotADecimal));
        assert_eq!(parse("0"), Err(MoneyError::NotPositive));
        assert_eq!(parse("0.00"), Err(MoneyError::NotPositive));
    }

    #[test]
    fn the_maximum_is_inclusive() {
        let max = Decimal::new(5_000_000, 2);
        assert!(Money::parse_with_max("50000.00", max).is_ok());
        assert!(matches!(Money::parse_with_max("50000.01", max), Err(MoneyError::AboveMaximum(_))));
    }

    #[test]
    fn json_numbers_keep_their_exact_text() {
        let input: AmountInput = serde_json::from_str("12.500000000000001").unwrap();
        assert!(input.to_money("amount", Decimal::new(5_000_000, 2)).is_err());
        let input: AmountInput = serde_json::from_str("12.5").unwrap();
        assert_eq!(input.to_money("amount", Decimal::new(5_000_000, 2)).unwrap().to_string(), "12.50");
        let input: AmountInput = serde_json::from_str("\"0.10\"").unwrap();
        assert_eq!(input.to_money("amount", Decimal::MAX).unwrap().to_string(), "0.10");
    }

    #[test]
    fn money_and_discounts_serialize_as_fixed_strings() {
        assert_eq!(serde_json::to_string(&Money::from_decimal(Decimal::new(5, 0))).unwrap(), "\"5.00\"");
        assert_eq!(serde_json::to_string(&Discount::from_decimal(Decimal::new(95, 2))).unwrap(), "\"0.950\"");
    }
}
