//! UK local time for people at the command line: slot times are stored and sent in UTC, but a
//! receptionist books "Tuesday at 09:15". Conversion goes through the IANA database bundled with
//! `jiff`, and every time shown carries its offset, because on the night the clocks go back the
//! same wall-clock time happens twice (01:30 +01:00, then 01:30 +00:00).

use bars_fhir::Instant;
use bars_receiver::availability::uk_time_zone;
use jiff::Timestamp;
use jiff::civil::Date;

/// `2027-10-31T00:30:00+00:00` as `Sun 31 Oct 01:30 +01:00`; text that is not an instant is
/// shown as it came.
pub fn when(text: &str) -> String {
    shown(text, "%a %d %b %H:%M %:z")
}

/// `2027-10-31T01:30:00+00:00` as `01:30 +00:00`: the end of a slot, next to its start.
pub fn clock(text: &str) -> String {
    shown(text, "%H:%M %:z")
}

fn shown(text: &str, format: &str) -> String {
    match Instant::parse(text) {
        Ok(i) => i
            .to_timestamp()
            .to_zoned(uk_time_zone())
            .strftime(format)
            .to_string(),
        Err(_) => text.to_string(),
    }
}

/// Today's date in the UK (a minute past midnight BST is still yesterday in UTC).
pub fn today() -> Date {
    Timestamp::now().to_zoned(uk_time_zone()).date()
}

/// Reads a `YYYY-MM-DD` date.
pub fn parse_date(text: &str) -> anyhow::Result<Date> {
    jiff::fmt::strtime::parse("%Y-%m-%d", text.trim())
        .and_then(|t| t.to_date())
        .map_err(|_| anyhow::anyhow!("{text:?} is not a date (YYYY-MM-DD)"))
}

/// The instants from the start of `from` to the last second before `days` UK days later: the
/// window of a slot search for those days as a person in the UK means them (a day of 23 or 25
/// hours when the clocks change).
pub fn days_window(from: Date, days: u32) -> anyhow::Result<(Instant, Instant)> {
    let zone = uk_time_zone();
    let after = from.checked_add(jiff::Span::new().days(i64::from(days)))?;
    let start = from.to_zoned(zone.clone())?.timestamp();
    let end = after.to_zoned(zone)?.timestamp() - jiff::SignedDuration::from_secs(1);
    match (Instant::from_timestamp(start), Instant::from_timestamp(end)) {
        (Some(s), Some(e)) => Ok((s, e)),
        _ => anyhow::bail!("{from} is outside the dates BaRS can express"),
    }
}

#[cfg(test)]
mod tests {
    use jiff::civil::date;

    use super::*;

    #[test]
    fn times_are_shown_in_uk_time_with_their_offset() {
        assert_eq!(when("2027-01-12T09:15:00Z"), "Tue 12 Jan 09:15 +00:00");
        assert_eq!(when("2027-07-12T09:15:00+00:00"), "Mon 12 Jul 10:15 +01:00");
        assert_eq!(clock("2027-07-12T09:45:00Z"), "10:45 +01:00");
        assert_eq!(when("not a time"), "not a time");
    }

    /// On 31 October 2027 01:30 happens twice; the two slots must not look the same.
    #[test]
    fn the_repeated_hour_is_told_apart_by_its_offset() {
        let first = when("2027-10-31T00:30:00Z");
        let second = when("2027-10-31T01:30:00Z");
        assert_eq!(first, "Sun 31 Oct 01:30 +01:00");
        assert_eq!(second, "Sun 31 Oct 01:30 +00:00");
        assert_eq!(clock("2027-10-31T01:00:00Z"), "01:00 +00:00");
    }

    /// On 28 March 2027 the clocks jump from 01:00 GMT to 02:00 BST.
    #[test]
    fn the_spring_change_jumps_from_one_to_two() {
        assert_eq!(when("2027-03-28T00:59:00Z"), "Sun 28 Mar 00:59 +00:00");
        assert_eq!(when("2027-03-28T01:00:00Z"), "Sun 28 Mar 02:00 +01:00");
        assert_eq!(clock("2027-03-27T23:30:00-01:00"), "00:30 +00:00");
    }

    #[test]
    fn a_search_day_is_a_uk_day() {
        let (from, to) = days_window(date(2027, 7, 1), 1).unwrap();
        assert_eq!(from.to_string(), "2027-06-30T23:00:00+00:00");
        assert_eq!(to.to_string(), "2027-07-01T22:59:59+00:00");
        // The day the clocks go forward has 23 hours, the day they go back 25.
        let (from, to) = days_window(date(2027, 3, 28), 1).unwrap();
        assert_eq!(from.to_string(), "2027-03-28T00:00:00+00:00");
        assert_eq!(to.to_string(), "2027-03-28T22:59:59+00:00");
        let (from, to) = days_window(date(2027, 10, 31), 1).unwrap();
        assert_eq!(from.to_string(), "2027-10-30T23:00:00+00:00");
        assert_eq!(to.to_string(), "2027-10-31T23:59:59+00:00");
        assert!(parse_date("2027-02-30").is_err());
        assert_eq!(parse_date("2027-10-31").unwrap(), date(2027, 10, 31));
    }
}
