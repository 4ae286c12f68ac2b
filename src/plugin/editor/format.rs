//! Numbers as the editor writes them: durations, rates, levels.

/// `45 s`, `3:05`, `1:02:03`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".into();
    }
    if seconds < 60.0 {
        return format!("{seconds:.0} s");
    }
    let whole = seconds.round() as u64;
    let (hours, minutes, secs) = (whole / 3600, whole / 60 % 60, whole % 60);
    if hours > 0 {
        format!("{hours}:{minutes:02}:{secs:02}")
    } else {
        format!("{minutes}:{secs:02}")
    }
}

/// A rough length of time, for estimates: `40 s`, `6 min`, `1.5 h`.
pub fn rough_duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "–".into();
    }
    if seconds < 1.0 {
        return "under 1 s".into();
    }
    if seconds < 59.5 {
        return format!("{seconds:.0} s");
    }
    let minutes = seconds / 60.0;
    if minutes < 59.5 {
        return format!("{minutes:.0} min");
    }
    let hours = minutes / 60.0;
    if hours < 9.95 {
        format!("{hours:.1} h")
    } else {
        format!("{hours:.0} h")
    }
}

/// A timeline position in seconds as `m:ss.s`.
pub fn position(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    let minutes = (seconds / 60.0).floor();
    format!("{minutes:.0}:{:04.1}", seconds - minutes * 60.0)
}

/// `1 234 codes/s`-style rate, with thin grouping so large numbers stay readable.
pub fn codes_per_second(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{} codes/s", grouped(rate.round() as u64))
    } else {
        format!("{rate:.1} codes/s")
    }
}

fn grouped(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(digit);
    }
    out
}

/// What a level means to a producer.
pub fn level_name(level: usize) -> &'static str {
    match level {
        0 => "level 0 (full quality)",
        1 => "level 1",
        2 => "level 2 (preview)",
        _ => "level ?",
    }
}

/// Short badge for the takes list.
pub fn level_badge(level: usize) -> String {
    format!("L{level}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_clock() {
        assert_eq!(duration(4.4), "4 s");
        assert_eq!(duration(59.4), "59 s");
        assert_eq!(duration(185.0), "3:05");
        assert_eq!(duration(3723.0), "1:02:03");
        assert_eq!(duration(f64::NAN), "–");
    }

    #[test]
    fn estimates_are_rounded_to_a_unit_people_plan_with() {
        assert_eq!(rough_duration(0.3), "under 1 s");
        assert_eq!(rough_duration(40.2), "40 s");
        assert_eq!(rough_duration(59.7), "1 min");
        assert_eq!(rough_duration(6.0 * 60.0 + 20.0), "6 min");
        assert_eq!(rough_duration(59.0 * 60.0 + 40.0), "1.0 h");
        assert_eq!(rough_duration(1.5 * 3600.0), "1.5 h");
        assert_eq!(rough_duration(26.0 * 3600.0), "26 h");
        assert_eq!(rough_duration(f64::INFINITY), "–");
    }

    #[test]
    fn positions_have_tenths() {
        assert_eq!(position(0.0), "0:00.0");
        assert_eq!(position(75.25), "1:15.2");
    }

    #[test]
    fn rates_are_grouped_by_thousands() {
        assert_eq!(codes_per_second(12.34), "12.3 codes/s");
        assert_eq!(codes_per_second(410.0), "410 codes/s");
        assert_eq!(codes_per_second(22_200.4), "22 200 codes/s");
        assert_eq!(codes_per_second(1_234_567.0), "1 234 567 codes/s");
    }
}
