//! The `Date` header's value (RFC 9110 §5.6.7), which an origin server
//! with a clock must send in its 4xx responses (§6.6.1).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// The length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
const LEN: usize = 29;

/// The last second an IMF-fixdate's four-digit year can show:
/// 9999-12-31 23:59:59 UTC.
const MAX_SECS: u64 = 253_402_300_799;

const WEEKDAYS: [&[u8; 3]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A second in HTTP's preferred date format, IMF-fixdate, ready to be
/// written into a response. This crate reads no clock: the caller passes
/// the time (see [`write_error_response`](crate::write_error_response)).
///
/// ```
/// use rs_http::HttpDate;
/// assert_eq!(HttpDate::from_unix_secs(784_111_777).as_str(), "Sun, 06 Nov 1994 08:49:37 GMT");
/// let now = HttpDate::from(std::time::SystemTime::now());
/// assert!(now.as_str().ends_with(" GMT"));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HttpDate([u8; LEN]);

impl HttpDate {
    /// The date `secs` seconds after 1970-01-01 00:00:00 UTC (leap seconds
    /// not counted, as in Unix time); past the year 9999, its last second.
    pub fn from_unix_secs(secs: u64) -> Self {
        let secs = secs.min(MAX_SECS);
        let days = secs / 86_400;
        let in_day = secs % 86_400;
        let (year, month, day) = civil_date(days);
        // 1970-01-01 was a Thursday.
        let weekday = WEEKDAYS[((days + 4) % 7) as usize];
        let mut out = *b"Www, DD Mmm YYYY hh:mm:ss GMT";
        out[..3].copy_from_slice(weekday);
        two_digits(&mut out[5..7], day);
        out[8..11].copy_from_slice(MONTHS[month as usize - 1]);
        two_digits(&mut out[12..14], year / 100);
        two_digits(&mut out[14..16], year % 100);
        two_digits(&mut out[17..19], in_day / 3600);
        two_digits(&mut out[20..22], in_day / 60 % 60);
        two_digits(&mut out[23..25], in_day % 60);
        Self(out)
    }

    /// The date as text.
    pub fn as_str(&self) -> &str {
        // Built from ASCII digits, letters and punctuation only.
        std::str::from_utf8(&self.0).expect("an IMF-fixdate is ASCII")
    }
}

impl From<SystemTime> for HttpDate {
    /// The second `time` falls in; a time before 1970 reads as 1970.
    fn from(time: SystemTime) -> Self {
        Self::from_unix_secs(time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HttpDate({})", self.as_str())
    }
}

/// Writes `value` (below 100) as two decimal digits.
fn two_digits(out: &mut [u8], value: u64) {
    out[0] = b'0' + (value / 10) as u8;
    out[1] = b'0' + (value % 10) as u8;
}

/// The Gregorian (year, month 1-12, day 1-31) of the day `days` after
/// 1970-01-01.
///
/// Counted in 400-year cycles (146,097 days each, the calendar's period)
/// of years that start on March 1st, so that a leap day is the last day of
/// its year and the months after it have fixed starts: 1970-01-01 is day
/// 719,468 from 0000-03-01.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let from_march_0 = days + 719_468;
    let cycle = from_march_0 / 146_097;
    let day_of_cycle = from_march_0 % 146_097;
    // Take out the leap days of the cycle so far (one per 4 years, none per
    // 100, one per 400), then whole years are 365 days.
    let year_of_cycle = (day_of_cycle - day_of_cycle / 1_460 + day_of_cycle / 36_524
        - day_of_cycle / 146_096)
        / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    // Months from March run 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, (29):
    // 153 days every five months, hence the 5/153 slope.
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = cycle * 400 + year_of_cycle + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_leap(year: u64) -> bool {
        year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
    }

    #[test]
    fn every_day_from_1970_to_9999_follows_the_calendar() {
        // Counted one day at a time, the plain way.
        let (mut year, mut month, mut day) = (1970, 1, 1);
        for days in 0..=MAX_SECS / 86_400 {
            assert_eq!(civil_date(days), (year, month, day), "day {days}");
            let month_len = match month {
                2 if is_leap(year) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            day += 1;
            if day > month_len {
                (day, month) = (1, month + 1);
                if month > 12 {
                    (month, year) = (1, year + 1);
                }
            }
        }
        assert_eq!((year, month, day), (10_000, 1, 1));
    }

    #[test]
    fn dates_in_imf_fixdate() {
        for (secs, text) in [
            (0, "Thu, 01 Jan 1970 00:00:00 GMT"),
            (784_111_777, "Sun, 06 Nov 1994 08:49:37 GMT"),
            (951_782_399, "Mon, 28 Feb 2000 23:59:59 GMT"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 GMT"),
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 GMT"),
            (1_796_083_200, "Tue, 01 Dec 2026 00:00:00 GMT"),
            (MAX_SECS, "Fri, 31 Dec 9999 23:59:59 GMT"),
            (u64::MAX, "Fri, 31 Dec 9999 23:59:59 GMT"),
        ] {
            assert_eq!(HttpDate::from_unix_secs(secs).as_str(), text, "{secs}");
        }
    }

    #[test]
    fn times_before_1970_read_as_1970() {
        let before = UNIX_EPOCH - std::time::Duration::from_secs(1);
        assert_eq!(HttpDate::from(before), HttpDate::from_unix_secs(0));
    }
}
