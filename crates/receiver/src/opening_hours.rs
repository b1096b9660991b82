//! Opening hours read on a service's wall clock, turned into slot instants.
//!
//! A UK service publishes its timetable in local (London) time, which moves with British Summer
//! Time. The clock change happens at 01:00 UTC, inside the hours of any service open through the
//! night, so the conversion goes through the IANA database bundled with `jiff` instead of a
//! hand-written rule. What a wall-clock time means on a change day:
//!
//! * The timetable is a grid of wall-clock times: opening time, then every `every` minutes
//!   while the clock reads earlier than closing time.
//! * A grid time the clock skips (01:00-01:59 on the last Sunday of March) has **no slot**; no
//!   slot is moved to another time to make up for it.
//! * A grid time the clock shows twice (01:00-01:59 on the last Sunday of October) has **two
//!   slots**, one per occurrence: "01:30" is 01:30 BST (00:30 UTC) and, an hour later,
//!   01:30 GMT (01:30 UTC). They have distinct instants, so distinct slot ids.
//! * A slot lasts its length in real time and must end by the closing instant: the first moment
//!   the wall clock reads the closing time (the earlier occurrence if it is shown twice, the
//!   moment the clocks jump if it is skipped).
//! * A slot never overlaps the slot before it more than the plan itself does (when `length`
//!   exceeds `every`): a grid time that the change brings too close to the previous slot is not
//!   published. With an interval that divides an hour this never drops a slot.
//!
//! Opening hours may cross midnight (`22:00-06:00`): the window opens on each planned day and
//! closes on the next.

use bars_fhir::Instant;
use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};

/// UK local time. Built into the binary at compile time, so it cannot fail to load.
pub fn uk_time_zone() -> TimeZone {
    jiff::tz::get!("Europe/London")
}

/// Reads a zone name: `UTC`, `Europe/London` (also `London`, `UK`), or any IANA name in the
/// bundled database.
pub fn parse_zone(name: &str) -> Option<TimeZone> {
    let name = name.trim();
    match name.to_ascii_lowercase().as_str() {
        "utc" | "z" => Some(TimeZone::UTC),
        "europe/london" | "europe-london" | "london" | "uk" => Some(uk_time_zone()),
        _ => jiff::tz::db().get(name).ok(),
    }
}

/// How slots are laid out in time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotPlan {
    pub service_id: String,
    /// `None`: the service's default schedule.
    pub schedule_id: Option<String>,
    pub from: Date,
    pub days: u32,
    pub every_minutes: u32,
    /// Slot length; `None` means back-to-back (`every_minutes`).
    pub length_minutes: Option<u32>,
    pub day_start: Time,
    /// At or before `day_start`: the window closes on the next day.
    pub day_end: Time,
    /// Skips windows that open on a Saturday or Sunday.
    pub weekdays_only: bool,
    /// The clock `day_start` and `day_end` are read on.
    pub zone: TimeZone,
}

impl SlotPlan {
    /// The (start, end) of every slot the plan describes, in time order.
    pub fn times(&self) -> Vec<(Instant, Instant)> {
        let (every, length) = (self.every(), self.length());
        let spacing = every.min(length);
        let mut out = Vec::new();
        let mut previous: Option<Timestamp> = None;
        let mut day = self.from;
        for _ in 0..self.days {
            let weekend = matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
            if !(self.weekdays_only && weekend) {
                for start in self.window_starts(day) {
                    let Some(end) = start.checked_add(length).ok() else {
                        continue;
                    };
                    if previous.is_some_and(|p| p.checked_add(spacing).is_ok_and(|p| start < p)) {
                        continue;
                    }
                    if let (Some(s), Some(e)) =
                        (Instant::from_timestamp(start), Instant::from_timestamp(end))
                    {
                        out.push((s, e));
                        previous = Some(start);
                    }
                }
            }
            day = match day.tomorrow() {
                Ok(d) => d,
                Err(_) => break,
            };
        }
        out
    }

    fn every(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(self.every_minutes.max(1)))
    }

    fn length(&self) -> SignedDuration {
        SignedDuration::from_mins(i64::from(
            self.length_minutes.unwrap_or(self.every_minutes).max(1),
        ))
    }

    /// The start instants of the window opening on `day` whose slots end by closing time,
    /// in time order (a repeated hour interleaves them with the grid's wall-clock order).
    fn window_starts(&self, day: Date) -> Vec<Timestamp> {
        let (every, length) = (self.every(), self.length());
        let open = day.to_datetime(self.day_start);
        let close_day = if self.day_end > self.day_start {
            Some(day)
        } else {
            day.tomorrow().ok()
        };
        let Some(close) = close_day.map(|d| d.to_datetime(self.day_end)) else {
            return Vec::new();
        };
        let Some(closing) = first_moment_showing(&self.zone, close) else {
            return Vec::new();
        };
        let mut starts = Vec::new();
        let mut wall = open;
        while wall < close {
            starts.extend(
                occurrences(&self.zone, wall)
                    .into_iter()
                    .filter(|s| s.checked_add(length).is_ok_and(|e| e <= closing)),
            );
            wall = match wall.checked_add(every) {
                Ok(next) => next,
                Err(_) => break,
            };
        }
        starts.sort();
        starts.dedup();
        starts
    }
}

/// Every instant at which the wall clock of `zone` shows `wall`: none in a skipped hour, two in
/// a repeated hour (earlier first), otherwise one.
pub fn occurrences(zone: &TimeZone, wall: DateTime) -> Vec<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(wall);
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } => ambiguous.compatible().ok().into_iter().collect(),
        AmbiguousOffset::Gap { .. } => Vec::new(),
        AmbiguousOffset::Fold { .. } => {
            let both = [ambiguous.earlier(), ambiguous.later()];
            both.into_iter().filter_map(Result::ok).collect()
        }
    }
}

/// The first instant at which the wall clock of `zone` reads `wall` or later: the earlier
/// occurrence in a repeated hour, the moment the clocks jump in a skipped one.
pub fn first_moment_showing(zone: &TimeZone, wall: DateTime) -> Option<Timestamp> {
    let ambiguous = zone.to_ambiguous_timestamp(wall);
    match ambiguous.offset() {
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, `wall` falls before the jump; the jump is the next
            // transition from there.
            let before_jump = after.to_timestamp(wall).ok()?;
            zone.following(before_jump)
                .next()
                .map(|t| t.timestamp())
                .or_else(|| ambiguous.compatible().ok())
        }
        _ => ambiguous.earlier().ok(),
    }
}

/// Parses `HH:MM-HH:MM`; an end at or before the start closes on the next day (`22:00-06:00`).
/// Equal times are refused: a window of no length, or of 24 hours, is more likely a mistake.
pub fn parse_hours(text: &str) -> Option<(Time, Time)> {
    let (a, b) = text.split_once('-')?;
    let parse = |s: &str| {
        let (h, m) = s.trim().split_once(':')?;
        Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
    };
    let (start, end) = (parse(a)?, parse(b)?);
    (start != end).then_some((start, end))
}

/// Parses `10m`, `15min`, `1h`, `90` (minutes).
pub fn parse_minutes(text: &str) -> Option<u32> {
    let t = text.trim().to_ascii_lowercase();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit())
        .map_or((t.as_str(), ""), |i| t.split_at(i));
    let n: u32 = num.parse().ok()?;
    let minutes = match unit {
        "" | "m" | "min" | "mins" | "minutes" => n,
        "h" | "hr" | "hour" | "hours" => n.checked_mul(60)?,
        _ => return None,
    };
    (minutes > 0).then_some(minutes)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use jiff::civil::{date, time};

    use super::*;
    use crate::availability::slot_id;

    fn plan(from: Date, between: &str, every: u32) -> SlotPlan {
        let (day_start, day_end) = parse_hours(between).unwrap();
        SlotPlan {
            service_id: "s".into(),
            schedule_id: None,
            from,
            days: 1,
            every_minutes: every,
            length_minutes: None,
            day_start,
            day_end,
            weekdays_only: false,
            zone: uk_time_zone(),
        }
    }

    fn utc(times: &[(Instant, Instant)]) -> Vec<String> {
        times.iter().map(|(s, _)| s.to_string()).collect()
    }

    /// `01:30+01:00`: the London wall clock and its offset at an instant.
    fn london(i: Instant) -> String {
        i.to_timestamp()
            .to_zoned(uk_time_zone())
            .strftime("%H:%M%:z")
            .to_string()
    }

    fn ids(times: &[(Instant, Instant)]) -> HashSet<String> {
        times
            .iter()
            .map(|(s, _)| slot_id("s-default", *s))
            .collect()
    }

    #[test]
    fn lays_out_back_to_back_slots() {
        let mut p = plan(date(2030, 1, 7), "09:00-10:00", 10);
        p.zone = TimeZone::UTC;
        let times = p.times();
        assert_eq!(times.len(), 6);
        assert_eq!(times[0].0.to_string(), "2030-01-07T09:00:00+00:00");
        assert_eq!(times[5].1.to_string(), "2030-01-07T10:00:00+00:00");
    }

    #[test]
    fn london_hours_follow_summer_time() {
        let winter = plan(date(2030, 1, 7), "09:00-10:00", 10).times();
        assert_eq!(winter[0].0.to_string(), "2030-01-07T09:00:00+00:00");
        let summer = plan(date(2030, 7, 8), "09:00-10:00", 10).times();
        assert_eq!(summer[0].0.to_string(), "2030-07-08T08:00:00+00:00");
    }

    #[test]
    fn weekends_can_be_skipped() {
        let mut p = plan(date(2030, 1, 5), "09:00-10:00", 10); // a Saturday
        p.days = 3;
        p.weekdays_only = true;
        let times = p.times();
        assert_eq!(times.len(), 6);
        assert!(
            times
                .iter()
                .all(|(s, _)| s.to_string().starts_with("2030-01-07"))
        );
    }

    /// 28 March 2027: at 01:00 GMT the clocks go to 02:00 BST. A service open 00:00-04:00 is
    /// open three real hours; 01:00 and 01:30 do not exist and get no slot, and no slot is moved.
    #[test]
    fn spring_forward_skips_the_missing_hour_without_moving_a_slot() {
        let times = plan(date(2027, 3, 28), "00:00-04:00", 30).times();
        assert_eq!(
            utc(&times),
            [
                "2027-03-28T00:00:00+00:00",
                "2027-03-28T00:30:00+00:00",
                "2027-03-28T01:00:00+00:00",
                "2027-03-28T01:30:00+00:00",
                "2027-03-28T02:00:00+00:00",
                "2027-03-28T02:30:00+00:00",
            ]
        );
        let local: Vec<String> = times.iter().map(|(s, _)| london(*s)).collect();
        assert_eq!(
            local,
            [
                "00:00+00:00",
                "00:30+00:00",
                "02:00+01:00",
                "02:30+01:00",
                "03:00+01:00",
                "03:30+01:00"
            ]
        );
        assert_eq!(ids(&times).len(), times.len(), "duplicate slot ids");
        assert_eq!(
            times.last().unwrap().1.to_string(),
            "2027-03-28T03:00:00+00:00"
        );
    }

    /// 31 October 2027: at 02:00 BST the clocks go back to 01:00 GMT. A service open 00:00-04:00
    /// is open five real hours; 01:00 and 01:30 happen twice and each occurrence is a slot.
    #[test]
    fn autumn_fall_back_publishes_both_occurrences_of_the_repeated_hour() {
        let times = plan(date(2027, 10, 31), "00:00-04:00", 30).times();
        assert_eq!(times.len(), 10);
        let local: Vec<String> = times.iter().map(|(s, _)| london(*s)).collect();
        assert_eq!(
            local,
            [
                "00:00+01:00",
                "00:30+01:00",
                "01:00+01:00",
                "01:30+01:00",
                "01:00+00:00",
                "01:30+00:00",
                "02:00+00:00",
                "02:30+00:00",
                "03:00+00:00",
                "03:30+00:00"
            ]
        );
        assert_eq!(times[0].0.to_string(), "2027-10-30T23:00:00+00:00");
        assert_eq!(times[3].0.to_string(), "2027-10-31T00:30:00+00:00");
        assert_eq!(times[5].0.to_string(), "2027-10-31T01:30:00+00:00");
        // Back to back: each slot ends where the next begins, so none overlap.
        for pair in times.windows(2) {
            assert_eq!(pair[0].1, pair[1].0);
        }
        assert_eq!(ids(&times).len(), times.len(), "duplicate slot ids");
    }

    /// Overnight hours through both changes of 2027: the window covers the real time between
    /// opening and closing exactly, with no gap, overlap or duplicate.
    #[test]
    fn overnight_windows_cover_the_night_of_each_change() {
        for (day, real_hours, first, last_end) in [
            (
                date(2027, 3, 27),
                7,
                "2027-03-27T22:00:00+00:00",
                "2027-03-28T05:00:00+00:00",
            ),
            (
                date(2027, 10, 30),
                9,
                "2027-10-30T21:00:00+00:00",
                "2027-10-31T06:00:00+00:00",
            ),
        ] {
            let times = plan(day, "22:00-06:00", 30).times();
            assert_eq!(times.len(), real_hours * 2, "{day}");
            assert_eq!(times[0].0.to_string(), first);
            assert_eq!(times.last().unwrap().1.to_string(), last_end);
            for pair in times.windows(2) {
                assert_eq!(pair[0].1, pair[1].0, "{day}");
            }
            assert_eq!(ids(&times).len(), times.len());
        }
    }

    /// Closing at 01:30 means the first moment the clock reads 01:30: when the clocks jump in
    /// spring, and at the first (summer-time) 01:30 in autumn.
    #[test]
    fn closing_time_inside_a_changing_hour() {
        let spring = plan(date(2027, 3, 28), "00:00-01:30", 30).times();
        assert_eq!(
            utc(&spring),
            ["2027-03-28T00:00:00+00:00", "2027-03-28T00:30:00+00:00"]
        );
        let autumn = plan(date(2027, 10, 31), "00:00-01:30", 30).times();
        assert_eq!(
            autumn.iter().map(|(s, _)| london(*s)).collect::<Vec<_>>(),
            ["00:00+01:00", "00:30+01:00", "01:00+01:00"]
        );
    }

    /// Any interval, length and hours around both changes: starts lie on the wall-clock grid,
    /// nothing overlaps more than the plan itself, every slot ends by closing time and ids are
    /// unique.
    #[test]
    fn no_interval_overlaps_or_leaves_the_grid_on_change_days() {
        let mut published = 0;
        for day in [date(2027, 3, 28), date(2027, 10, 31)] {
            for between in ["00:00-04:00", "00:15-03:45", "01:30-05:00", "23:00-03:00"] {
                for every in [5, 20, 30, 45, 60, 90] {
                    for length in [every / 2 + 1, every, every * 2] {
                        let mut p = plan(day, between, every);
                        p.length_minutes = Some(length);
                        let times = p.times();
                        let what = format!("{day} {between} every {every} length {length}");
                        published += times.len();
                        assert_eq!(ids(&times).len(), times.len(), "{what}: duplicate ids");
                        let spacing = i64::from(every.min(length)) * 60_000_000_000;
                        for pair in times.windows(2) {
                            let gap = pair[1].0.unix_nanos() - pair[0].0.unix_nanos();
                            assert!(gap >= spacing, "{what}: {pair:?}");
                        }
                        let grid_start =
                            p.day_start.hour() as i64 * 60 + p.day_start.minute() as i64;
                        for (s, e) in &times {
                            assert_eq!(
                                e.unix_nanos() - s.unix_nanos(),
                                i64::from(length) * 60_000_000_000
                            );
                            let wall = s.to_timestamp().to_zoned(uk_time_zone());
                            let minute = wall.hour() as i64 * 60 + wall.minute() as i64;
                            assert_eq!(
                                (minute - grid_start).rem_euclid(i64::from(every)),
                                0,
                                "{what}: {s} is off the grid"
                            );
                        }
                    }
                }
            }
        }
        assert!(published > 1000, "{published}");
    }

    #[test]
    fn parses_hours_zones_and_intervals() {
        assert_eq!(
            parse_hours("09:00-17:30"),
            Some((time(9, 0, 0, 0), time(17, 30, 0, 0)))
        );
        assert_eq!(
            parse_hours("22:00-06:00"),
            Some((time(22, 0, 0, 0), time(6, 0, 0, 0)))
        );
        assert_eq!(parse_hours("09:00-09:00"), None);
        assert_eq!(parse_hours("24:00-09:00"), None);
        assert_eq!(parse_minutes("10m"), Some(10));
        assert_eq!(parse_minutes("1h"), Some(60));
        assert_eq!(parse_minutes("0"), None);
        assert_eq!(parse_minutes("ten"), None);
        assert_eq!(parse_zone("UTC"), Some(TimeZone::UTC));
        assert_eq!(parse_zone("uk"), Some(uk_time_zone()));
        assert_eq!(
            parse_zone("Europe/Dublin").and_then(|z| z.iana_name().map(str::to_string)),
            Some("Europe/Dublin".into())
        );
        assert_eq!(parse_zone("Mars/Olympus"), None);
    }
}
