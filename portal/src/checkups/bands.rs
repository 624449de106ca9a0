//! Judgement bands A < B < C < D: how far a value lies from the reference range. Pure.
//!
//! The value is first rounded to the item's precision (a value such as 24.95 would otherwise
//! fall between 24.9 and 25.0), then placed in the one band whose inclusive range holds it.
//! Where the reference table leaves a range open (unverified), the value has no band and the
//! page says so instead of guessing.

use serde::Serialize;

use super::reference::{Bands, Item, NumericBands, Sex};
use super::value::{Milli, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Band {
    A,
    B,
    C,
    D,
}

impl Band {
    pub fn parse(s: &str) -> Option<Band> {
        match s.trim() {
            "A" => Some(Band::A),
            "B" => Some(Band::B),
            "C" => Some(Band::C),
            "D" => Some(Band::D),
            _ => None,
        }
    }

    pub fn letter(self) -> &'static str {
        match self {
            Band::A => "A",
            Band::B => "B",
            Band::C => "C",
            Band::D => "D",
        }
    }
}

/// The outcome for one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "band", rename_all = "snake_case")]
pub enum Judgement {
    Band(Band),
    /// The value falls where the reference table has no (verified) band.
    Unbanded,
    /// The item is not judged at all (height, weight).
    NotJudged,
    /// The bands differ by sex and the result does not say which applies.
    SexUnknown,
    /// A number for a dipstick item or a grade for a numeric one.
    Mismatch,
}

/// The band of `v` under numeric thresholds, after rounding to `decimals`.
pub fn numeric_band(n: &NumericBands, v: Milli, decimals: u8) -> Option<Band> {
    let v = v.round_to(decimals);
    n.intervals().into_iter().find(|(_, _, i)| i.contains(v)).map(|(b, _, _)| b)
}

pub fn judge(item: &Item, sex: Option<Sex>, value: &Value) -> Judgement {
    let Some(bands) = item.bands_for(sex) else { return Judgement::SexUnknown };
    match (bands, value) {
        (Bands::None, _) => Judgement::NotJudged,
        (Bands::Numeric(n), Value::Number(v)) => {
            numeric_band(n, *v, item.decimals).map_or(Judgement::Unbanded, Judgement::Band)
        }
        (Bands::Qualitative(q), Value::Qualitative(g)) => {
            q.iter().find(|(x, _)| x == g).map_or(Judgement::Unbanded, |(_, b)| Judgement::Band(*b))
        }
        _ => Judgement::Mismatch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkups::reference::{Interval, ReferenceTable, SexBands};
    use crate::checkups::value::Qual;

    fn table() -> ReferenceTable {
        ReferenceTable::builtin().unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    fn j(t: &ReferenceTable, code: &str, sex: Option<Sex>, v: &str) -> Judgement {
        let item = t.item(code).unwrap_or_else(|| unreachable!("{code}"));
        let value = if item.qualitative {
            Value::Qualitative(Qual::parse(v).unwrap_or_else(|| unreachable!("{v}")))
        } else {
            Value::Number(Milli::parse(v).unwrap_or_else(|| unreachable!("{v}")))
        };
        judge(item, sex, &value)
    }

    use Judgement::{Band as B, NotJudged, SexUnknown, Unbanded};

    /// Every threshold of every item of the shipped table, written out by hand from
    /// checkup-reference.md (not derived from the file): the value at each bound and the value
    /// one step of the item's precision beyond it, plus rounding at the edges.
    #[test]
    fn every_threshold_of_every_item() {
        let t = table();
        let (a, b, c, d) = (B(Band::A), B(Band::B), B(Band::C), B(Band::D));
        let cases: &[(&str, Option<Sex>, &str, Judgement)] = &[
            ("height", None, "170.2", NotJudged),
            ("weight", None, "66.0", NotJudged),
            ("bmi", None, "18.4", c),
            ("bmi", None, "18.5", a),
            ("bmi", None, "24.9", a),
            ("bmi", None, "25.0", c),
            ("bmi", None, "18.45", a),
            ("bmi", None, "18.44", c),
            ("bmi", None, "24.94", a),
            ("bmi", None, "24.95", c),
            ("waist", Some(Sex::M), "84.9", a),
            ("waist", Some(Sex::M), "85.0", c),
            ("waist", Some(Sex::M), "84.95", c),
            ("waist", Some(Sex::F), "89.9", a),
            ("waist", Some(Sex::F), "90.0", c),
            ("waist", Some(Sex::F), "85.0", a),
            ("waist", None, "80.0", SexUnknown),
            ("sbp", None, "129", a),
            ("sbp", None, "130", b),
            ("sbp", None, "139", b),
            ("sbp", None, "140", c),
            ("sbp", None, "159", c),
            ("sbp", None, "160", d),
            ("sbp", None, "129.4", a),
            ("sbp", None, "129.5", b),
            ("dbp", None, "84", a),
            ("dbp", None, "85", b),
            ("dbp", None, "89", b),
            ("dbp", None, "90", c),
            ("dbp", None, "99", c),
            ("dbp", None, "100", d),
            ("tg", None, "29", d),
            ("tg", None, "30", a),
            ("tg", None, "149", a),
            ("tg", None, "150", b),
            ("tg", None, "299", b),
            ("tg", None, "300", c),
            ("tg", None, "499", c),
            ("tg", None, "500", d),
            ("hdl", None, "29", d),
            ("hdl", None, "30", c),
            ("hdl", None, "39", c),
            ("hdl", None, "40", a),
            ("hdl", None, "150", a),
            ("ldl", None, "59", d),
            ("ldl", None, "60", a),
            ("ldl", None, "119", a),
            ("ldl", None, "120", b),
            ("ldl", None, "139", b),
            ("ldl", None, "140", c),
            ("ldl", None, "179", c),
            ("ldl", None, "180", d),
            ("ast", None, "0", a),
            ("ast", None, "30", a),
            ("ast", None, "31", b),
            ("ast", None, "35", b),
            ("ast", None, "36", c),
            ("ast", None, "50", c),
            ("ast", None, "51", d),
            ("alt", None, "30", a),
            ("alt", None, "31", b),
            ("alt", None, "40", b),
            ("alt", None, "41", c),
            ("alt", None, "50", c),
            ("alt", None, "51", d),
            ("ggt", None, "50", a),
            ("ggt", None, "51", b),
            ("ggt", None, "80", b),
            ("ggt", None, "81", c),
            ("ggt", None, "100", c),
            ("ggt", None, "101", d),
            ("fpg", None, "69", Unbanded),
            ("fpg", None, "70", a),
            ("fpg", None, "99", a),
            ("fpg", None, "100", b),
            ("fpg", None, "109", b),
            ("fpg", None, "110", c),
            ("fpg", None, "125", c),
            ("fpg", None, "126", d),
            ("hba1c", None, "5.5", a),
            ("hba1c", None, "5.6", b),
            ("hba1c", None, "5.9", b),
            ("hba1c", None, "6.0", c),
            ("hba1c", None, "6.4", c),
            ("hba1c", None, "6.5", d),
            ("hba1c", None, "5.55", b),
            ("hba1c", None, "5.54", a),
            ("urine_protein", None, "-", a),
            ("urine_protein", None, "±", b),
            ("urine_protein", None, "+", c),
            ("urine_protein", None, "2+", d),
            ("urine_protein", None, "3+", d),
            ("urine_glucose", None, "-", a),
            ("urine_glucose", None, "±", Unbanded),
            ("urine_glucose", None, "+", Unbanded),
            ("urine_glucose", None, "2+", Unbanded),
            ("urine_glucose", None, "3+", Unbanded),
        ];
        for (code, sex, v, want) in cases {
            assert_eq!(j(&t, code, *sex, v), *want, "{code} {sex:?} {v}");
        }
    }

    /// Whatever the union puts in the file: at every bound the value belongs to that bound's
    /// band, and one step beyond it belongs to a different band (or to none).
    #[test]
    fn every_bound_in_the_table_is_inclusive_and_tight() {
        let t = table();
        for item in t.items() {
            let per_sex: Vec<&Bands> = match &item.bands {
                SexBands::All(b) => vec![b],
                SexBands::BySex { m, f } => vec![m, f],
            };
            for bands in per_sex {
                let Bands::Numeric(n) = bands else { continue };
                let step = Milli::step(item.decimals);
                for (band, name, Interval { min, max }) in n.intervals() {
                    for (bound, outward) in [(min, Milli(0) - step), (max, step)] {
                        let Some(v) = bound else { continue };
                        assert_eq!(numeric_band(n, v, item.decimals), Some(band), "{} {name} at {v:?}", item.code);
                        assert_ne!(
                            numeric_band(n, v + outward, item.decimals),
                            Some(band),
                            "{} {name} beyond {v:?}",
                            item.code
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_grade_for_a_numeric_item_is_a_mismatch() {
        let t = table();
        let sbp = t.item("sbp").unwrap_or_else(|| unreachable!());
        assert_eq!(judge(sbp, None, &Value::Qualitative(Qual::Plus1)), Judgement::Mismatch);
        let up = t.item("urine_protein").unwrap_or_else(|| unreachable!());
        assert_eq!(judge(up, None, &Value::Number(Milli::from_int(1))), Judgement::Mismatch);
    }

    #[test]
    fn bands_are_ordered() {
        assert!(Band::A < Band::B && Band::B < Band::C && Band::C < Band::D);
        assert_eq!(Band::parse("C"), Some(Band::C));
        assert_eq!(Band::parse("E"), None);
    }
}
