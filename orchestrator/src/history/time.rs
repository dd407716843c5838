//! Dates for `--since` and for listings, in UTC, without a calendar dependency.
//!
//! `--since` takes `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS][Z]` (also with a space instead of `T`),
//! or an age: `30m`, `12h`, `7d`, `2w`.

const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

/// `2026-11-23 20:06` (UTC) for a Unix time in milliseconds.
pub fn format_ms(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let rem = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem / 60 % 60
    )
}

/// `2026-11-23T20:06:40Z` for a Unix time in milliseconds.
pub fn format_iso(ms: i64) -> String {
    let (y, mo, d) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let rem = ms.rem_euclid(MS_PER_DAY) / 1000;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
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
            let unit_ms = match unit {
                'm' => 60_000,
                'h' => 3_600_000,
                'd' => MS_PER_DAY,
                _ => 7 * MS_PER_DAY,
            };
            return n
                .checked_mul(unit_ms)
                .map(|ago| now_ms - ago)
                .ok_or_else(bad);
        }
    }
    let (date, time) = match t.find(['T', ' ']) {
        Some(i) => (&t[..i], Some(t[i + 1..].trim_end_matches('Z'))),
        None => (t, None),
    };
    let num = |s: &str, lo: i64, hi: i64| -> Result<i64, String> {
        let ok = !s.is_empty() && s.len() <= 4 && s.chars().all(|c| c.is_ascii_digit());
        let v: i64 = if ok {
            s.parse().map_err(|_| bad())?
        } else {
            return Err(bad());
        };
        if (lo..=hi).contains(&v) {
            Ok(v)
        } else {
            Err(bad())
        }
    };
    let parts: Vec<&str> = date.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    let (y, m, d) = (num(y, 1970, 9999)?, num(m, 1, 12)?, num(d, 1, 31)?);
    if civil_from_days(days_from_civil(y, m, d)) != (y, m, d) {
        return Err(format!("--since `{text}`: {y:04}-{m:02} has no day {d}"));
    }
    let mut ms = days_from_civil(y, m, d) * MS_PER_DAY;
    if let Some(time) = time {
        let hms: Vec<&str> = time.split(':').collect();
        let (h, mi, s) = match hms.as_slice() {
            [h, mi] => (num(h, 0, 23)?, num(mi, 0, 59)?, 0),
            [h, mi, s] => (num(h, 0, 23)?, num(mi, 0, 59)?, num(s, 0, 60)?),
            _ => return Err(bad()),
        };
        ms += (h * 3600 + mi * 60 + s) * 1000;
    }
    Ok(ms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

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
