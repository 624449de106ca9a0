//! From stored results to what a member sees: one year's items with value, unit, reference
//! range and band, the years available, and one item's trend. Pure.

use serde::Serialize;

use super::bands::{self, Judgement};
use super::chart::{Chart, Point};
use super::reference::{Item, ReferenceTable, Sex};
use super::value::{Milli, Qual, Value};
use crate::store::results::ResultRecord;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ItemLine {
    pub code: String,
    pub name: String,
    pub value: String,
    pub unit: String,
    pub reference_range: String,
    /// "A".."D", or empty when there is no band.
    pub band: &'static str,
    /// CSS class: band-a … band-d, band-none.
    pub band_class: &'static str,
    /// Message key explaining a missing band, empty when there is a band.
    pub note: &'static str,
    pub has_trend: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct YearResults {
    pub year: i32,
    /// The latest checkup date within the year (YYYY-MM-DD).
    pub checkup_date: String,
    pub items: Vec<ItemLine>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TrendRow {
    pub year: i32,
    pub checkup_date: String,
    pub value: String,
    pub band: &'static str,
    pub band_class: &'static str,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Trend {
    pub code: String,
    pub name: String,
    pub unit: String,
    pub reference_range: String,
    pub svg: String,
    pub rows: Vec<TrendRow>,
}

fn year_of(date: &str) -> Option<i32> {
    date.get(..4).and_then(|y| y.parse().ok())
}

/// Years with results, newest first.
pub fn years(records: &[ResultRecord]) -> Vec<i32> {
    let mut ys: Vec<i32> = records.iter().filter_map(|r| year_of(&r.checkup_date)).collect();
    ys.sort_unstable_by(|a, b| b.cmp(a));
    ys.dedup();
    ys
}

fn parse_value(item: &Item, raw: &str) -> Option<Value> {
    if item.qualitative { Qual::parse(raw).map(Value::Qualitative) } else { Milli::parse(raw).map(Value::Number) }
}

fn display(item: &Item, v: &Value) -> String {
    match v {
        Value::Number(m) => m.format(item.decimals),
        Value::Qualitative(q) => q.display().to_string(),
    }
}

fn band_parts(j: Judgement) -> (&'static str, &'static str, &'static str) {
    match j {
        Judgement::Band(b) => (b.letter(), ["band-a", "band-b", "band-c", "band-d"][b as usize], ""),
        Judgement::Unbanded => ("", "band-none", "results.note.unbanded"),
        Judgement::NotJudged => ("", "band-none", ""),
        Judgement::SexUnknown => ("", "band-none", "results.note.sex_unknown"),
        Judgement::Mismatch => ("", "band-none", "results.note.unbanded"),
    }
}

/// The latest record of each item within `year`, in stored order.
fn latest_in_year(records: &[ResultRecord], year: i32) -> Vec<&ResultRecord> {
    let mut out: Vec<&ResultRecord> = Vec::new();
    for r in records.iter().filter(|r| year_of(&r.checkup_date) == Some(year)) {
        match out.iter_mut().find(|x| x.item_code == r.item_code) {
            Some(x) if x.checkup_date < r.checkup_date => *x = r,
            Some(_) => {}
            None => out.push(r),
        }
    }
    out
}

fn line(table: &ReferenceTable, r: &ResultRecord, english: bool) -> ItemLine {
    let sex = r.sex.as_deref().and_then(Sex::parse);
    match table.item(&r.item_code) {
        Some(item) => {
            let value = parse_value(item, &r.value);
            let j = value.map_or(Judgement::Mismatch, |v| bands::judge(item, sex, &v));
            let (band, band_class, note) = band_parts(j);
            ItemLine {
                code: item.code.clone(),
                name: item.name(english).to_string(),
                value: value.map(|v| display(item, &v)).unwrap_or_else(|| r.value.clone()),
                unit: item.unit.clone(),
                reference_range: item.reference_range(sex),
                band,
                band_class,
                note,
                has_trend: true,
            }
        }
        // An item the union has since removed from the table: shown as stored, not judged.
        None => ItemLine {
            code: r.item_code.clone(),
            name: r.item_code.clone(),
            value: r.value.clone(),
            unit: r.unit.clone(),
            reference_range: String::new(),
            band: "",
            band_class: "band-none",
            note: "",
            has_trend: false,
        },
    }
}

/// One year's results in the reference table's order (unknown items last).
pub fn year_results(table: &ReferenceTable, records: &[ResultRecord], year: i32, english: bool) -> Option<YearResults> {
    let latest = latest_in_year(records, year);
    let checkup_date = latest.iter().map(|r| r.checkup_date.clone()).max()?;
    let position = |code: &str| table.items().iter().position(|i| i.code == code).unwrap_or(usize::MAX);
    let mut sorted = latest;
    sorted.sort_by_key(|r| position(&r.item_code));
    Some(YearResults { year, checkup_date, items: sorted.into_iter().map(|r| line(table, r, english)).collect() })
}

/// One item across all years, oldest first, with its chart.
pub fn trend(table: &ReferenceTable, records: &[ResultRecord], code: &str, english: bool) -> Option<Trend> {
    let item = table.item(code)?;
    let mut ys = years(records);
    ys.reverse();
    let mut rows = Vec::new();
    let mut points = Vec::new();
    let mut sex = None;
    for y in ys {
        let Some(r) = latest_in_year(records, y).into_iter().find(|r| r.item_code == item.code) else { continue };
        let s = r.sex.as_deref().and_then(Sex::parse);
        sex = sex.or(s);
        let Some(v) = parse_value(item, &r.value) else { continue };
        let (band, band_class, _) = band_parts(bands::judge(item, s, &v));
        let text = display(item, &v);
        let yv = match v {
            Value::Number(m) => m.round_to(item.decimals).as_f64(),
            Value::Qualitative(q) => q.rank() as f64,
        };
        points.push(Point { label: y.to_string(), y: yv, text: text.clone(), band: super::bands::Band::parse(band) });
        rows.push(TrendRow { year: y, checkup_date: r.checkup_date.clone(), value: text, band, band_class });
    }
    if rows.is_empty() {
        return None;
    }
    let reference = match item.bands_for(sex) {
        Some(super::reference::Bands::Numeric(n)) => n.a.map(|a| (a.min.map(Milli::as_f64), a.max.map(Milli::as_f64))),
        _ => None,
    };
    let grades = item.qualitative.then(|| Qual::ALL.iter().map(|q| q.display().to_string()).collect());
    let chart = Chart { title: item.name(english).to_string(), unit: item.unit.clone(), points, reference, grades };
    Some(Trend {
        code: item.code.clone(),
        name: item.name(english).to_string(),
        unit: item.unit.clone(),
        reference_range: item.reference_range(sex),
        svg: chart.to_svg(),
        rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(date: &str, code: &str, value: &str, sex: Option<&str>) -> ResultRecord {
        ResultRecord {
            checkup_date: date.into(),
            item_code: code.into(),
            value: value.into(),
            unit: String::new(),
            sex: sex.map(str::to_string),
        }
    }

    fn table() -> ReferenceTable {
        ReferenceTable::builtin().unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    #[test]
    fn a_year_lists_items_in_table_order_with_bands() {
        let records = vec![
            rec("2024-06-18", "sbp", "138", None),
            rec("2025-06-17", "urine_protein", "±", None),
            rec("2025-06-17", "sbp", "142", None),
            rec("2025-06-17", "waist", "88.2", Some("m")),
            rec("2025-06-17", "retired_item", "7", None),
        ];
        assert_eq!(years(&records), vec![2025, 2024]);
        let y = year_results(&table(), &records, 2025, false).unwrap_or_else(|| unreachable!());
        assert_eq!(y.checkup_date, "2025-06-17");
        let codes: Vec<&str> = y.items.iter().map(|i| i.code.as_str()).collect();
        assert_eq!(codes, vec!["waist", "sbp", "urine_protein", "retired_item"]);
        assert_eq!(
            (y.items[0].band, y.items[0].value.as_str(), y.items[0].reference_range.as_str()),
            ("C", "88.2", "≤ 84.9")
        );
        assert_eq!((y.items[1].band, y.items[1].band_class), ("C", "band-c"));
        assert_eq!((y.items[2].band, y.items[2].value.as_str()), ("B", "(±)"));
        assert_eq!((y.items[3].band, y.items[3].has_trend), ("", false));
        assert!(year_results(&table(), &records, 2019, false).is_none());
    }

    #[test]
    fn the_latest_checkup_of_a_year_wins_per_item() {
        let records = vec![
            rec("2025-02-01", "sbp", "150", None),
            rec("2025-09-01", "sbp", "128", None),
            rec("2025-02-01", "dbp", "80", None),
        ];
        let y = year_results(&table(), &records, 2025, true).unwrap_or_else(|| unreachable!());
        assert_eq!(y.items.len(), 2);
        assert_eq!(y.items[0].name, "Systolic blood pressure");
        assert_eq!((y.items[0].value.as_str(), y.items[0].band), ("128", "A"));
        assert_eq!(y.checkup_date, "2025-09-01");
    }

    #[test]
    fn trend_spans_years_oldest_first() {
        let records = vec![
            rec("2023-06-20", "hba1c", "5.5", None),
            rec("2024-06-18", "hba1c", "5.7", None),
            rec("2025-06-17", "hba1c", "5.8", None),
        ];
        let t = trend(&table(), &records, "hba1c", false).unwrap_or_else(|| unreachable!());
        assert_eq!(t.rows.iter().map(|r| r.year).collect::<Vec<_>>(), vec![2023, 2024, 2025]);
        assert_eq!(t.rows.iter().map(|r| r.band).collect::<Vec<_>>(), vec!["A", "B", "B"]);
        assert!(t.svg.contains("<svg") && t.svg.matches("<circle").count() == 3);
        assert!(trend(&table(), &records, "ldl", false).is_none());
        assert!(trend(&table(), &records, "nope", false).is_none());
    }
}
