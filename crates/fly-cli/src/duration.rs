//! Durations on the command line (and in [`ConfigOptions`](crate::ConfigOptions)): `15s`, `2m`, `1h30m`, `500ms`, `1d`; a
//! bare number is seconds.

use std::time::Duration;

/// Parses a duration such as `15s`, `2m`, `1h30m`, `250ms` or `1d` (a bare
/// number is seconds). Used by clap for `--ttl` and `--cli-timeout`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".to_owned());
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("`{s}` is not a duration (expected e.g. 15s, 2m, 1h30m, 500ms)"));
        }
        let (num, tail) = rest.split_at(digits);
        let n: u64 = num.parse().map_err(|_| format!("`{num}` is too large"))?;
        let unit_len = tail.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, tail) = tail.split_at(unit_len);
        let part = match unit {
            "ms" => Duration::from_millis(n),
            "s" | "sec" | "secs" => Duration::from_secs(n),
            "m" | "min" | "mins" => Duration::from_secs(n.saturating_mul(60)),
            "h" | "hr" | "hrs" => Duration::from_secs(n.saturating_mul(3_600)),
            "d" | "day" | "days" => Duration::from_secs(n.saturating_mul(86_400)),
            "" => return Err(format!("`{s}`: a unit is missing after {n} (ms, s, m, h, d)")),
            other => return Err(format!("`{s}`: unknown unit `{other}` (ms, s, m, h, d)")),
        };
        total = total.saturating_add(part);
        rest = tail;
    }
    Ok(total)
}

/// `--cli-timeout`: a duration that is not zero (a zero timeout would kill
/// the fly CLI before it could answer).
pub fn parse_cli_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err("the fly CLI needs some time to answer; give e.g. 15s".to_owned());
    }
    Ok(d)
}

/// `--ttl`: at least one second. Expiry is kept in whole unix seconds, so a
/// shorter TTL would store every token already expired.
pub fn parse_ttl(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_secs(1) {
        return Err(
            "shorter than 1s: expiry is kept in whole seconds, so a token would be stored already expired".to_owned(),
        );
    }
    Ok(d)
}

/// A whole number of seconds as a short human span: `45s`, `3m 20s`,
/// `23h 59m`, `364d 23h`.
pub fn human_secs(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs % 86_400 / 3_600, secs % 3_600 / 60, secs % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m {s}s"),
        (0, _, _) => format!("{h}h {m}m"),
        _ => format!("{d}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse_duration("15s"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration(" 7 "), Ok(Duration::from_secs(7)));
        for bad in ["", "s", "1x", "1h 30m", "-1s", "1.5s", "5m3"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn timeouts_and_ttls_that_cannot_work_are_refused() {
        for zero in ["0", "0s", "0ms", "0m0s"] {
            assert!(parse_cli_timeout(zero).is_err(), "{zero:?}");
        }
        assert_eq!(parse_cli_timeout("1ms"), Ok(Duration::from_millis(1)));
        for short in ["0", "999ms", "0s"] {
            assert!(parse_ttl(short).is_err(), "{short:?}");
        }
        assert_eq!(parse_ttl("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_ttl("1500ms"), Ok(Duration::from_millis(1_500)));
    }

    #[test]
    fn humanises() {
        assert_eq!(human_secs(45), "45s");
        assert_eq!(human_secs(200), "3m 20s");
        assert_eq!(human_secs(86_399), "23h 59m");
        assert_eq!(human_secs(86_400 * 364 + 3_600 * 23), "364d 23h");
    }
}
