//! FHIR `instant` and `dateTime` values.
//!
//! BaRS times are instants with an offset and up to seven (we accept nine) fractional digits.
//! Senders SHOULD use UTC but everyone MUST accept other offsets, so an [`Instant`] is held as
//! nanoseconds since the Unix epoch in UTC and remembers how many fractional digits it was given,
//! which lets a normalised value be written back with the precision the sender chose.

use std::fmt;
use std::str::FromStr;

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// A point in time, normalised to UTC.
#[derive(Debug, Clone, Copy)]
pub struct Instant {
    nanos: i64,
    fraction_digits: u8,
}

impl PartialEq for Instant {
    fn eq(&self, other: &Self) -> bool {
        self.nanos == other.nanos
    }
}
impl Eq for Instant {}
impl PartialOrd for Instant {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Instant {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.nanos.cmp(&other.nanos)
    }
}
impl std::hash::Hash for Instant {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.nanos.hash(state);
    }
}

/// Why a text is not a FHIR instant; the message names the rule, never the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InstantError(&'static str);

impl Instant {
    /// The current time, with microsecond precision (what the server stamps on `meta.lastUpdated`).
    pub fn now() -> Self {
        let now = OffsetDateTime::now_utc();
        let nanos = (now.unix_timestamp_nanos() / 1_000 * 1_000) as i64;
        Instant {
            nanos,
            fraction_digits: 6,
        }
    }

    pub fn from_unix_nanos(nanos: i64, fraction_digits: u8) -> Self {
        Instant {
            nanos,
            fraction_digits: fraction_digits.min(9),
        }
    }

    pub fn from_unix_micros(micros: i64) -> Self {
        Instant {
            nanos: micros.saturating_mul(1_000),
            fraction_digits: 6,
        }
    }

    /// An instant read back from storage, written with as few fractional digits as its value
    /// needs (none for whole seconds, which is how slot times are usually published).
    pub fn from_unix_nanos_trimmed(nanos: i64) -> Self {
        let sub = nanos.rem_euclid(1_000_000_000) as u32;
        let digits = if sub == 0 {
            0
        } else if sub.is_multiple_of(1_000_000) {
            3
        } else if sub.is_multiple_of(1_000) {
            6
        } else {
            9 - trailing_zero_digits(sub)
        };
        Instant {
            nanos,
            fraction_digits: digits,
        }
    }

    pub fn unix_nanos(&self) -> i64 {
        self.nanos
    }

    /// Microseconds since the epoch: the unit stored in indexed database columns.
    pub fn unix_micros(&self) -> i64 {
        self.nanos.div_euclid(1_000)
    }

    pub fn fraction_digits(&self) -> u8 {
        self.fraction_digits
    }

    pub fn with_fraction_digits(self, digits: u8) -> Self {
        Instant {
            fraction_digits: digits.min(9),
            ..self
        }
    }

    /// The later of `self` and one microsecond after `previous`: a server timestamp that never
    /// goes backwards for one resource, even if the clock does.
    pub fn after(self, previous: Instant) -> Instant {
        if self > previous {
            self
        } else {
            Instant {
                nanos: previous.nanos + 1_000,
                fraction_digits: 6.max(previous.fraction_digits),
            }
        }
    }

    /// Saturates at the ends of the representable range, so arithmetic on a sender's extreme
    /// (but valid) instant can never overflow.
    pub fn plus_seconds(self, seconds: i64) -> Instant {
        Instant {
            nanos: self
                .nanos
                .saturating_add(seconds.saturating_mul(1_000_000_000)),
            ..self
        }
    }

    pub fn plus_nanos(self, nanos: i64) -> Instant {
        Instant {
            nanos: self.nanos.saturating_add(nanos),
            ..self
        }
    }

    pub fn to_offset_date_time(&self) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.nanos as i128)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    pub fn from_offset_date_time(t: OffsetDateTime) -> Self {
        let t = t.to_offset(UtcOffset::UTC);
        let nanos = t.unix_timestamp_nanos() as i64;
        let digits = if t.nanosecond() == 0 {
            0
        } else {
            9 - trailing_zero_digits(t.nanosecond())
        };
        Instant {
            nanos,
            fraction_digits: digits,
        }
    }

    /// The same point on `jiff`'s time line, where time-zone conversion and date formatting
    /// happen. Every `Instant` (years 1677 to 2262) lies inside `jiff`'s range (years -9999 to
    /// 9999), so the epoch fallback is never taken.
    pub fn to_timestamp(&self) -> jiff::Timestamp {
        jiff::Timestamp::from_nanosecond(i128::from(self.nanos))
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// A `jiff` timestamp as an instant, written with as few fractional digits as it needs;
    /// `None` outside the years an `Instant` can hold (1677 to 2262).
    pub fn from_timestamp(t: jiff::Timestamp) -> Option<Self> {
        i64::try_from(t.as_nanosecond())
            .ok()
            .map(Instant::from_unix_nanos_trimmed)
    }

    /// Parses a FHIR `instant`: `YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)`; the offset is mandatory.
    pub fn parse(text: &str) -> Result<Self, InstantError> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(InstantError(
                "an instant needs a date, a time with seconds and an offset",
            ));
        }
        let date = parse_date_part(&b[..10])?;
        if b[10] != b'T' {
            return Err(InstantError("an instant needs 'T' between date and time"));
        }
        let (time_of_day, nanos, digits, rest) = parse_time_part(&b[11..])?;
        let offset = parse_offset(rest)?;
        let pdt = PrimitiveDateTime::new(date, time_of_day);
        // Instants are kept as i64 nanoseconds (1677-09-21 to 2262-04-11); anything outside
        // that is refused rather than wrapped into a different time.
        const OUT_OF_RANGE: InstantError =
            InstantError("the instant is outside the supported range (years 1678 to 2261)");
        let odt = pdt
            .assume_offset(offset)
            .checked_to_offset(UtcOffset::UTC)
            .ok_or(OUT_OF_RANGE)?;
        let nanos = i64::try_from(odt.unix_timestamp_nanos())
            .ok()
            .and_then(|base| base.checked_add(i64::from(nanos)))
            .ok_or(OUT_OF_RANGE)?;
        Ok(Instant {
            nanos,
            fraction_digits: digits,
        })
    }

    /// Like [`Instant::parse`], but a space where the offset sign belongs is read as `+`: an
    /// unencoded `+` in a query string arrives as a space.
    pub fn parse_query_value(text: &str) -> Result<Self, InstantError> {
        if text.len() > 19 && text.as_bytes().get(text.len().wrapping_sub(6)) == Some(&b' ') {
            let mut fixed = text.to_string();
            let pos = text.len() - 6;
            fixed.replace_range(pos..pos + 1, "+");
            return Instant::parse(&fixed);
        }
        Instant::parse(text)
    }
}

fn trailing_zero_digits(mut nanos: u32) -> u8 {
    let mut n = 0;
    while nanos.is_multiple_of(10) && n < 9 {
        nanos /= 10;
        n += 1;
    }
    n
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn parse_date_part(b: &[u8]) -> Result<Date, InstantError> {
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return Err(InstantError("the date must be YYYY-MM-DD"));
    }
    let year = digits(&b[0..4]).ok_or(InstantError("the year must be four digits"))?;
    let month = digits(&b[5..7]).ok_or(InstantError("the month must be two digits"))?;
    let day = digits(&b[8..10]).ok_or(InstantError("the day must be two digits"))?;
    if year == 0 {
        return Err(InstantError("the year must be 0001 or later"));
    }
    let month =
        Month::try_from(month as u8).map_err(|_| InstantError("the month must be 01-12"))?;
    Date::from_calendar_date(year as i32, month, day as u8)
        .map_err(|_| InstantError("the day does not exist in that month"))
}

/// Returns the time of day, the sub-second nanoseconds, the number of fractional digits and the
/// unparsed remainder (the offset).
fn parse_time_part(b: &[u8]) -> Result<(Time, u32, u8, &[u8]), InstantError> {
    if b.len() < 8 || b[2] != b':' || b[5] != b':' {
        return Err(InstantError("the time must be hh:mm:ss"));
    }
    let hour = digits(&b[0..2]).ok_or(InstantError("the hour must be two digits"))?;
    let minute = digits(&b[3..5]).ok_or(InstantError("the minutes must be two digits"))?;
    let second = digits(&b[6..8]).ok_or(InstantError("the seconds must be two digits"))?;
    // FHIR allows a leap second (60); it is read as the last nanosecond-free moment of the minute.
    let second = if second == 60 { 59 } else { second };
    let time_of_day = Time::from_hms(hour as u8, minute as u8, second as u8)
        .map_err(|_| InstantError("the time of day is out of range"))?;
    let mut rest = &b[8..];
    let mut nanos = 0u32;
    let mut count = 0u8;
    if rest.first() == Some(&b'.') {
        let frac: Vec<u8> = rest[1..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .copied()
            .collect();
        if frac.is_empty() {
            return Err(InstantError("a decimal point must be followed by digits"));
        }
        if frac.len() > 9 {
            return Err(InstantError("at most nine fractional digits are accepted"));
        }
        count = frac.len() as u8;
        let mut value = digits(&frac).unwrap_or(0);
        for _ in frac.len()..9 {
            value *= 10;
        }
        nanos = value;
        rest = &rest[1 + frac.len()..];
    }
    Ok((time_of_day, nanos, count, rest))
}

fn parse_offset(b: &[u8]) -> Result<UtcOffset, InstantError> {
    match b {
        [b'Z'] => Ok(UtcOffset::UTC),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let hours =
                digits(&[*h1, *h2]).ok_or(InstantError("the offset hours must be two digits"))?;
            let minutes =
                digits(&[*m1, *m2]).ok_or(InstantError("the offset minutes must be two digits"))?;
            if hours > 14 || minutes > 59 || (hours == 14 && minutes != 0) {
                return Err(InstantError(
                    "the offset must lie between -14:00 and +14:00",
                ));
            }
            let sign = if *sign == b'-' { -1 } else { 1 };
            UtcOffset::from_hms(sign * hours as i8, sign * minutes as i8, 0)
                .map_err(|_| InstantError("the offset is out of range"))
        }
        [] => Err(InstantError(
            "an instant must carry a time-zone offset (Z or ±hh:mm)",
        )),
        _ => Err(InstantError("the offset must be Z or ±hh:mm")),
    }
}

impl fmt::Display for Instant {
    /// Writes the instant in UTC as `YYYY-MM-DDThh:mm:ss[.fraction]+00:00`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text().as_str())
    }
}

/// An instant written out in a buffer on the stack, as `Display` writes it.
///
/// A slot search answers with three instants per slot; writing each through `write!` and a
/// JSON writer's escaping adapter (`collect_str`) was 7% of a search's CPU. This is written
/// digit by digit with no formatter, and handed to the JSON writer as a plain string.
#[derive(Clone, Copy)]
pub struct InstantText {
    bytes: [u8; 35],
    len: usize,
}

impl InstantText {
    pub fn as_str(&self) -> &str {
        // Only ASCII digits and punctuation are ever written, so this never fails.
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or_default()
    }
}

/// Writes `value`'s last `out.len()` decimal digits into `out`, zero-padded.
fn put_digits(out: &mut [u8], mut value: u32) {
    for b in out.iter_mut().rev() {
        *b = b'0' + (value % 10) as u8;
        value /= 10;
    }
}

impl Instant {
    /// The instant as `Display` writes it, without a formatter.
    pub fn text(&self) -> InstantText {
        let t = self.to_offset_date_time();
        let mut b = [0u8; 35];
        // An i64 of nanoseconds spans the years 1677 to 2262: always four digits.
        put_digits(&mut b[0..4], t.year().clamp(0, 9999) as u32);
        b[4] = b'-';
        put_digits(&mut b[5..7], u8::from(t.month()).into());
        b[7] = b'-';
        put_digits(&mut b[8..10], t.day().into());
        b[10] = b'T';
        put_digits(&mut b[11..13], t.hour().into());
        b[13] = b':';
        put_digits(&mut b[14..16], t.minute().into());
        b[16] = b':';
        put_digits(&mut b[17..19], t.second().into());
        let mut len = 19;
        let digits = usize::from(self.fraction_digits.min(9));
        if digits > 0 {
            let mut nine = [0u8; 9];
            put_digits(&mut nine, t.nanosecond());
            b[len] = b'.';
            b[len + 1..len + 1 + digits].copy_from_slice(&nine[..digits]);
            len += 1 + digits;
        }
        b[len..len + 6].copy_from_slice(b"+00:00");
        InstantText {
            bytes: b,
            len: len + 6,
        }
    }
}

impl FromStr for Instant {
    type Err = InstantError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Instant::parse(s)
    }
}

/// Checks a FHIR `dateTime`: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, or a full date-time with seconds
/// and an offset.
pub fn check_date_time(text: &str) -> Result<(), InstantError> {
    match text.len() {
        4 => digits(text.as_bytes())
            .filter(|y| *y > 0)
            .map(|_| ())
            .ok_or(InstantError("the year must be four digits")),
        7 => {
            let b = text.as_bytes();
            if b[4] != b'-' {
                return Err(InstantError("a year-month must be YYYY-MM"));
            }
            let m = digits(&b[5..7]).ok_or(InstantError("the month must be two digits"))?;
            if digits(&b[0..4]).is_none() || !(1..=12).contains(&m) {
                return Err(InstantError("a year-month must be YYYY-MM"));
            }
            Ok(())
        }
        10 => parse_date_part(text.as_bytes()).map(|_| ()),
        _ => Instant::parse(text).map(|_| ()),
    }
}

/// Checks a FHIR `date`: `YYYY`, `YYYY-MM` or `YYYY-MM-DD`.
pub fn check_date(text: &str) -> Result<(), InstantError> {
    if text.len() > 10 {
        return Err(InstantError("a date has no time part"));
    }
    check_date_time(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_normalises_offsets() {
        let a = Instant::parse("2024-02-12T12:30:30+01:00").unwrap();
        let b = Instant::parse("2024-02-12T11:30:30Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_string(), "2024-02-12T11:30:30+00:00");
    }

    #[test]
    fn instants_beyond_the_nanosecond_range_are_refused_not_wrapped() {
        // Found by fuzzing: 9999-12-31 with a negative offset is year 10000 in UTC (a panic in
        // the date library), and anything after 2262 overflowed the i64 nanoseconds.
        for text in [
            "9999-12-31T23:59:59-14:00",
            "2262-04-12T00:00:00Z",
            "3000-01-01T00:00:00Z",
            "1677-09-20T00:00:00Z",
            "0001-01-01T00:00:00+14:00",
        ] {
            let e = Instant::parse(text).unwrap_err();
            assert!(e.to_string().contains("supported range"), "{text}: {e}");
        }
        let latest = Instant::parse("2262-04-11T23:47:16.854775807Z").unwrap();
        assert_eq!(latest.unix_nanos(), i64::MAX);
        assert!(Instant::parse("2262-04-11T23:47:16.854775808Z").is_err());
    }

    #[test]
    fn keeps_fractional_precision() {
        let a = Instant::parse("2024-01-11T15:01:30.8185338+00:00").unwrap();
        assert_eq!(a.fraction_digits(), 7);
        assert_eq!(a.to_string(), "2024-01-11T15:01:30.8185338+00:00");
        let b = Instant::parse("2024-01-11T15:01:30.000+00:00").unwrap();
        assert_eq!(b.to_string(), "2024-01-11T15:01:30.000+00:00");
    }

    #[test]
    fn negative_offsets_and_day_rollover() {
        let a = Instant::parse("2024-12-31T23:30:00-05:30").unwrap();
        assert_eq!(a.to_string(), "2025-01-01T05:00:00+00:00");
    }

    #[test]
    fn rejects_what_is_not_an_instant() {
        for bad in [
            "2024-02-12",
            "2024-02-12T12:30:30",
            "2024-02-12T12:30+00:00",
            "2024-13-12T12:30:30Z",
            "2024-02-30T12:30:30Z",
            "2024-02-12T24:00:00Z",
            "2024-02-12T12:30:30.+00:00",
            "2024-02-12T12:30:30+15:00",
            "2024-02-12 12:30:30Z",
            "0000-01-01T00:00:00Z",
            "２０２４-02-12T12:30:30Z",
        ] {
            assert!(Instant::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn query_values_tolerate_an_unencoded_plus() {
        let a = Instant::parse_query_value("2022-03-01T12:00:00 00:00").unwrap();
        assert_eq!(a, Instant::parse("2022-03-01T12:00:00Z").unwrap());
    }

    #[test]
    fn date_times_may_be_partial() {
        for ok in ["2024", "2024-02", "2024-02-12", "2024-02-12T10:00:00Z"] {
            check_date_time(ok).unwrap();
        }
        for bad in ["24", "2024-2", "2024-02-12T10:00", "2024-00"] {
            assert!(check_date_time(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn trimmed_instants_use_the_digits_they_need() {
        assert_eq!(
            Instant::from_unix_nanos_trimmed(0).to_string(),
            "1970-01-01T00:00:00+00:00"
        );
        assert_eq!(
            Instant::from_unix_nanos_trimmed(1_500_000_000).to_string(),
            "1970-01-01T00:00:01.500+00:00"
        );
        assert_eq!(
            Instant::from_unix_nanos_trimmed(1_000_001_000).to_string(),
            "1970-01-01T00:00:01.000001+00:00"
        );
        assert_eq!(
            Instant::from_unix_nanos_trimmed(1_000_000_100).to_string(),
            "1970-01-01T00:00:01.0000001+00:00"
        );
    }

    #[test]
    fn converts_to_and_from_jiff_timestamps() {
        let a = Instant::parse("2027-10-31T01:30:00.25+01:00").unwrap();
        let t = a.to_timestamp();
        assert_eq!(t.to_string(), "2027-10-31T00:30:00.25Z");
        let back = Instant::from_timestamp(t).unwrap();
        assert_eq!(back, a);
        assert_eq!(back.to_string(), "2027-10-31T00:30:00.250+00:00");
        let extreme = Instant::from_unix_nanos(i64::MAX, 9);
        assert_eq!(
            Instant::from_timestamp(extreme.to_timestamp()),
            Some(extreme)
        );
        // jiff reaches year 9999; an instant does not.
        let far: jiff::Timestamp = "3000-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(Instant::from_timestamp(far), None);
    }

    #[test]
    fn after_never_goes_backwards() {
        let later = Instant::parse("2030-01-01T00:00:00Z").unwrap();
        let now = Instant::parse("2029-01-01T00:00:00Z").unwrap();
        assert!(now.after(later) > later);
        assert_eq!(later.after(now), later);
    }

    /// What `write!` through the time crate's fields wrote, which `text` replaced: the same
    /// bytes for instants across the whole range (before 1970, the extremes of i64, every
    /// number of fraction digits).
    #[test]
    fn text_writes_what_the_formatter_wrote() {
        fn formatted(i: &Instant) -> String {
            let t = i.to_offset_date_time();
            let mut out = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            );
            if i.fraction_digits > 0 {
                let frac = format!("{:09}", t.nanosecond());
                out.push('.');
                out.push_str(&frac[..i.fraction_digits as usize]);
            }
            out + "+00:00"
        }
        let mut nanos = vec![0, 1, -1, i64::MIN, i64::MAX, 951_782_400_123_456_789];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..2_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            nanos.push(x as i64);
        }
        for n in nanos {
            for digits in 0..=9 {
                let i = Instant::from_unix_nanos(n, digits);
                assert_eq!(i.text().as_str(), formatted(&i), "{n} with {digits} digits");
                assert_eq!(i.to_string(), formatted(&i));
            }
        }
    }
}
