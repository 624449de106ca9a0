//! Measured values, held exactly: numbers as thousandths (no floating point anywhere near a
//! band boundary), dipstick results as their five grades. Pure.

use std::fmt;

use unicode_normalization::UnicodeNormalization;

/// A decimal number with up to three decimals, stored as an integer count of thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Milli(pub i64);

impl Milli {
    pub const fn from_int(v: i64) -> Milli {
        Milli(v * 1000)
    }

    /// Parses `123`, `-1.5`, `24.95` (ASCII, after [`normalize`]). At most three decimals and
    /// twelve integer digits; anything else is `None`.
    pub fn parse(s: &str) -> Option<Milli> {
        let s = s.trim();
        let (neg, rest) = match s.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if int.is_empty() || int.len() > 12 || frac.len() > 3 || !digits(int) || !digits(frac) {
            return None;
        }
        if rest.contains('.') && frac.is_empty() {
            return None;
        }
        let whole: i64 = int.parse().ok()?;
        let mut f: i64 = 0;
        for (i, b) in frac.bytes().enumerate() {
            f += i64::from(b - b'0') * 10_i64.pow(2 - i as u32);
        }
        let v = whole * 1000 + f;
        Some(Milli(if neg { -v } else { v }))
    }

    /// Rounds half away from zero to `decimals` (0..=3) places, as the sources print values.
    pub fn round_to(self, decimals: u8) -> Milli {
        let unit = 10_i64.pow(3 - u32::from(decimals.min(3)));
        let abs = self.0.abs();
        let rem = abs % unit;
        let mut base = abs - rem;
        if rem * 2 >= unit {
            base += unit;
        }
        Milli(if self.0 < 0 { -base } else { base })
    }

    /// The value rounded and printed with exactly `decimals` places.
    pub fn format(self, decimals: u8) -> String {
        let d = decimals.min(3);
        let r = self.round_to(d);
        let abs = r.0.abs();
        let sign = if r.0 < 0 { "-" } else { "" };
        if d == 0 {
            return format!("{sign}{}", abs / 1000);
        }
        let frac = (abs % 1000) / 10_i64.pow(3 - u32::from(d));
        format!("{sign}{}.{:0width$}", abs / 1000, frac, width = usize::from(d))
    }

    /// The shortest exact text (`120`, `5.6`, `0.85`): how values are stored.
    pub fn canonical(self) -> String {
        let mut s = self.format(3);
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        s
    }

    /// One step of the given precision (0.1 for one decimal).
    pub fn step(decimals: u8) -> Milli {
        Milli(10_i64.pow(3 - u32::from(decimals.min(3))))
    }

    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl std::ops::Add for Milli {
    type Output = Milli;
    fn add(self, o: Milli) -> Milli {
        Milli(self.0 + o.0)
    }
}

impl std::ops::Sub for Milli {
    type Output = Milli;
    fn sub(self, o: Milli) -> Milli {
        Milli(self.0 - o.0)
    }
}

/// A urine dipstick grade (XML code system 1.2.392.200119.6.2102: 1 (−) … 5 (3+)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Qual {
    Negative,
    Trace,
    Plus1,
    Plus2,
    Plus3,
}

impl Qual {
    pub const ALL: [Qual; 5] = [Qual::Negative, Qual::Trace, Qual::Plus1, Qual::Plus2, Qual::Plus3];

    /// Accepts the usual spellings after [`normalize`]: `-`, `(−)`, `±`, `+-`, `+`, `1+`,
    /// `2+`, `++`, `3+`, `+++`, 陰性, and the XML codes `1`–`5`.
    pub fn parse(s: &str) -> Option<Qual> {
        let t: String = s.trim().chars().filter(|c| !matches!(c, '(' | ')' | ' ')).collect();
        Some(match t.as_str() {
            "-" | "−" | "ー" | "陰性" | "1" => Qual::Negative,
            "±" | "+-" | "+/-" | "2" => Qual::Trace,
            "+" | "1+" | "3" => Qual::Plus1,
            "2+" | "++" | "4" => Qual::Plus2,
            "3+" | "+++" | "5" => Qual::Plus3,
            _ => return None,
        })
    }

    /// Stored and displayed form.
    pub fn as_str(self) -> &'static str {
        match self {
            Qual::Negative => "-",
            Qual::Trace => "±",
            Qual::Plus1 => "+",
            Qual::Plus2 => "2+",
            Qual::Plus3 => "3+",
        }
    }

    /// How a result sheet prints it: （−） （±） （＋） …
    pub fn display(self) -> &'static str {
        match self {
            Qual::Negative => "(−)",
            Qual::Trace => "(±)",
            Qual::Plus1 => "(+)",
            Qual::Plus2 => "(2+)",
            Qual::Plus3 => "(3+)",
        }
    }

    /// Position on a chart's axis (0 = negative).
    pub fn rank(self) -> i64 {
        match self {
            Qual::Negative => 0,
            Qual::Trace => 1,
            Qual::Plus1 => 2,
            Qual::Plus2 => 3,
            Qual::Plus3 => 4,
        }
    }
}

/// One measured value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    Number(Milli),
    Qualitative(Qual),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Number(m) => f.write_str(&m.canonical()),
            Value::Qualitative(q) => f.write_str(q.as_str()),
        }
    }
}

/// What every text field of an import file goes through: NFKC (full-width digits and
/// letters become ASCII, 「－」 becomes `-`), then surrounding white space removed.
pub fn normalize(s: &str) -> String {
    s.nfkc().collect::<String>().trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_exact_and_strict() {
        assert_eq!(Milli::parse("24.95"), Some(Milli(24_950)));
        assert_eq!(Milli::parse("120"), Some(Milli(120_000)));
        assert_eq!(Milli::parse("-1.5"), Some(Milli(-1_500)));
        assert_eq!(Milli::parse("0.001"), Some(Milli(1)));
        for bad in ["", ".5", "5.", "1.2345", "1e3", "12a", "1,000", "--1", "１２"] {
            assert_eq!(Milli::parse(bad), None, "{bad}");
        }
        assert_eq!(Milli::parse(&normalize("１２３．４")), Some(Milli(123_400)));
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(Milli(24_950).round_to(1), Milli(25_000));
        assert_eq!(Milli(24_949).round_to(1), Milli(24_900));
        assert_eq!(Milli(129_500).round_to(0), Milli(130_000));
        assert_eq!(Milli(129_499).round_to(0), Milli(129_000));
        assert_eq!(Milli(-1_500).round_to(0), Milli(-2_000));
        assert_eq!(Milli(1_005).round_to(2), Milli(1_010));
        assert_eq!(Milli(1_005).round_to(3), Milli(1_005));
    }

    #[test]
    fn format_and_canonical() {
        assert_eq!(Milli(5_550).format(1), "5.6");
        assert_eq!(Milli(120_000).format(0), "120");
        assert_eq!(Milli(850).format(2), "0.85");
        assert_eq!(Milli(120_000).canonical(), "120");
        assert_eq!(Milli(5_600).canonical(), "5.6");
        assert_eq!(Milli(-250).canonical(), "-0.25");
    }

    #[test]
    fn dipstick_spellings() {
        for (s, q) in [
            ("-", Qual::Negative),
            ("(−)", Qual::Negative),
            ("±", Qual::Trace),
            ("+-", Qual::Trace),
            ("+", Qual::Plus1),
            ("2+", Qual::Plus2),
            ("+++", Qual::Plus3),
            ("5", Qual::Plus3),
        ] {
            assert_eq!(Qual::parse(s), Some(q), "{s}");
        }
        assert_eq!(Qual::parse(&normalize("（－）")), Some(Qual::Negative));
        assert_eq!(Qual::parse(&normalize("（＋）")), Some(Qual::Plus1));
        assert_eq!(Qual::parse("6"), None);
        assert_eq!(Qual::parse("positive"), None);
        for q in Qual::ALL {
            assert_eq!(Qual::parse(q.as_str()), Some(q));
        }
    }
}
