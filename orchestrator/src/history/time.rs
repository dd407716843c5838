//! Dates for `--since` and for listings, in UTC, through `chrono` (already built for the
//! Parquet reader).
//!
//! `--since` takes `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS][Z]` (also with a space instead of `T`),
//! or an age: `30m`, `12h`, `7d`, `2w`.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime};

fn utc(ms: i64) -> DateTime<chrono::Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// `2026-11-23 20:06` (UTC) for a Unix time in milliseconds.
pub fn format_ms(ms: i64) -> String {
    utc(ms).format("%Y-%m-%d %H:%M").to_string()
}

/// `2026-11-23T20:06:40Z` for a Unix time in milliseconds.
pub fn format_iso(ms: i64) -> String {
    utc(ms).format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Parse a `--since` value into Unix milliseconds; `now_ms` anchors ages like `7d`.
pub fn parse_since(text: &str, now_ms: i64) -> Result<i64, String> {
    let t = text.trim();
    let bad = || {
        format!(
            "--since `{text}` is not a date: use YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] (UTC) or an age such as 12h, 7d, 2w"
        )
    };
    if let Some(unit) = t.chars().last().filter(|c| "mhdw".contains(*c)) {
        let num = &t[..t.len() - 1];
        if !num.is_empty() && num.chars().all(|c| c.is_ascii_digit()) {
            let n: i64 = num.parse().map_err(|_| bad())?;
            let unit = match unit {
                'm' => chrono::TimeDelta::try_minutes(n),
                'h' => chrono::TimeDelta::try_hours(n),
                'd' => chrono::TimeDelta::try_days(n),
                _ => chrono::TimeDelta::try_weeks(n),
            };
            return unit
                .map(|ago| now_ms - ago.num_milliseconds())
                .ok_or_else(bad);
        }
    }
    let (date, time) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], Some(t[i + 1..].trim_end_matches('Z'))),
        None => (t, None),
    };
    // Strict shapes: numbers only, three for a date and two or three for a time.
    let shaped = |s: &str, parts: usize| {
        let p: Vec<&str> = s.split(['-', ':']).collect();
        p.len() == parts
            && p.iter()
                .all(|x| !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()))
    };
    if !shaped(date, 3) {
        return Err(bad());
    }
    let ymd: Vec<u32> = date.split('-').filter_map(|x| x.parse().ok()).collect();
    let [y, m, d] = ymd[..] else {
        return Err(bad());
    };
    if !(1970..=9999).contains(&y) {
        return Err(bad());
    }
    let day = match NaiveDate::from_ymd_opt(y as i32, m, d) {
        Some(day) => day,
        None if (1..=12).contains(&m) && (1..=31).contains(&d) => {
            return Err(format!("--since `{text}`: {y:04}-{m:02} has no day {d}"));
        }
        None => return Err(bad()),
    };
    let time = match time {
        None => NaiveTime::MIN,
        Some(time) if shaped(time, 2) => {
            NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| bad())?
        }
        Some(time) if shaped(time, 3) => {
            NaiveTime::parse_from_str(time, "%H:%M:%S").map_err(|_| bad())?
        }
        Some(_) => return Err(bad()),
    };
    Ok(NaiveDateTime::new(day, time).and_utc().timestamp_millis())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MS_PER_DAY: i64 = 86_400_000;

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_since("1970-01-01", 0).unwrap(), 0);
        let ms = parse_since("2026-11-23T20:06:40Z", 0).unwrap();
        assert_eq!(ms, 1_795_464_400_000);
        assert_eq!(format_iso(ms), "2026-11-23T20:06:40Z");
        assert_eq!(format_ms(ms), "2026-11-23 20:06");
        assert_eq!(parse_since("2026-11-23 20:06", 0).unwrap(), ms - 40_000);
        assert_eq!(
            format_iso(parse_since("2024-02-29", 0).unwrap()),
            "2024-02-29T00:00:00Z"
        );
    }

    #[test]
    fn ages_and_errors() {
        assert_eq!(parse_since("7d", 10 * MS_PER_DAY).unwrap(), 3 * MS_PER_DAY);
        assert_eq!(parse_since("2h", 3 * 3_600_000).unwrap(), 3_600_000);
        for bad in [
            "yesterday",
            "2026-13-01",
            "2026-02-30",
            "2026-1-1x",
            "",
            "d",
            "12:00",
        ] {
            let err = parse_since(bad, 0).unwrap_err();
            assert!(err.contains("--since"), "{bad}: {err}");
        }
    }
}
