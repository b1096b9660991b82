//! Times as a person in the UK reads them. BaRS sends UTC; pages show UK local time with its
//! offset (as the CLI does), and a "week" is seven UK days.

use bars_fhir::Instant;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Span, Timestamp};

fn zone() -> TimeZone {
    jiff::tz::get!("Europe/London")
}

fn shown(text: &str, format: &str) -> String {
    match Instant::parse(text) {
        Ok(i) => i
            .to_timestamp()
            .to_zoned(zone())
            .strftime(format)
            .to_string(),
        Err(_) => text.to_string(),
    }
}

/// `Tue 12 Jan 2027, 09:15 +00:00`.
pub fn when(text: &str) -> String {
    shown(text, "%a %d %b %Y, %H:%M %:z")
}

/// `09:15`.
pub fn clock(text: &str) -> String {
    shown(text, "%H:%M")
}

/// The UK day an instant falls on.
pub fn day_of(text: &str) -> Option<Date> {
    Instant::parse(text)
        .ok()
        .map(|i| i.to_timestamp().to_zoned(zone()).date())
}

pub fn today() -> Date {
    Timestamp::now().to_zoned(zone()).date()
}

pub fn parse_date(text: &str) -> Option<Date> {
    jiff::fmt::strtime::parse("%Y-%m-%d", text.trim())
        .and_then(|t| t.to_date())
        .ok()
}

/// `Monday 12 January`.
pub fn day_heading(d: Date) -> String {
    d.strftime("%A %d %B").to_string()
}

pub fn add_days(d: Date, days: i64) -> Date {
    d.checked_add(Span::new().days(days)).unwrap_or(d)
}

/// From the start of UK day `from` to the last second before `days` UK days later.
pub fn window(from: Date, days: i64) -> Option<(Instant, Instant)> {
    let start = from.to_zoned(zone()).ok()?.timestamp();
    let end = add_days(from, days).to_zoned(zone()).ok()?.timestamp()
        - jiff::SignedDuration::from_secs(1);
    Some((
        Instant::from_timestamp(start)?,
        Instant::from_timestamp(end)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn uk_days_and_times() {
        assert_eq!(
            when("2027-07-12T09:15:00Z"),
            "Mon 12 Jul 2027, 10:15 +01:00"
        );
        assert_eq!(clock("2027-01-12T09:15:00Z"), "09:15");
        assert_eq!(day_of("2027-06-30T23:30:00Z"), Some(date(2027, 7, 1)));
        let (from, to) = window(date(2027, 7, 1), 7).unwrap();
        assert_eq!(from.to_string(), "2027-06-30T23:00:00+00:00");
        assert_eq!(to.to_string(), "2027-07-07T22:59:59+00:00");
        assert_eq!(parse_date("2027-02-30"), None);
    }
}
