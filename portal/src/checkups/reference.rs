//! The reference table: items, units, precision, reference ranges and band thresholds, read
//! from a CSV file the union can change (`data/checkup-reference.csv` is built in). The file is
//! checked as a whole when it is loaded: a table with overlapping or disordered bands is refused
//! with every problem listed, so a typo cannot silently move members between bands. Pure.

use std::collections::HashMap;
use std::path::Path;

use super::bands::Band;
use super::csv;
use super::value::{Milli, Qual};

pub const BUILTIN: &str = include_str!("../../data/checkup-reference.csv");

const COLUMNS: &[&str] = &[
    "item_code",
    "sex",
    "name_ja",
    "name_en",
    "unit",
    "decimals",
    "a_min",
    "a_max",
    "b_low_min",
    "b_low_max",
    "b_high_min",
    "b_high_max",
    "c_low_min",
    "c_low_max",
    "c_high_min",
    "c_high_max",
    "d_low_max",
    "d_high_min",
    "qualitative_bands",
    "mhlw_hoken_shido",
    "mhlw_jushin_kansho",
    "jlac10_codes",
    "source_key",
    "status",
    "unverified",
];

/// An inclusive range; `None` is unbounded on that side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub min: Option<Milli>,
    pub max: Option<Milli>,
}

impl Interval {
    pub fn contains(&self, v: Milli) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v <= m)
    }

    fn overlaps(&self, o: &Interval) -> bool {
        let lo = match (self.min, o.min) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let hi = match (self.max, o.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match (lo, hi) {
            (Some(l), Some(h)) => l <= h,
            _ => true,
        }
    }
}

/// Numeric thresholds of one item (and sex).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NumericBands {
    pub a: Option<Interval>,
    pub b_low: Option<Interval>,
    pub b_high: Option<Interval>,
    pub c_low: Option<Interval>,
    pub c_high: Option<Interval>,
    pub d_low_max: Option<Milli>,
    pub d_high_min: Option<Milli>,
}

impl NumericBands {
    /// Every band as (band, interval), D sides as half-open intervals.
    pub fn intervals(&self) -> Vec<(Band, &'static str, Interval)> {
        let mut v = Vec::new();
        let mut push = |b: Band, name: &'static str, i: Option<Interval>| {
            if let Some(i) = i {
                v.push((b, name, i));
            }
        };
        push(Band::A, "A", self.a);
        push(Band::B, "B low", self.b_low);
        push(Band::B, "B high", self.b_high);
        push(Band::C, "C low", self.c_low);
        push(Band::C, "C high", self.c_high);
        push(Band::D, "D low", self.d_low_max.map(|m| Interval { min: None, max: Some(m) }));
        push(Band::D, "D high", self.d_high_min.map(|m| Interval { min: Some(m), max: None }));
        v
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bands {
    /// The item is shown without a judgement (height, weight).
    None,
    Numeric(NumericBands),
    /// Dipstick grades with a band; a grade not listed has none (unverified).
    Qualitative(Vec<(Qual, Band)>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    M,
    F,
}

impl Sex {
    pub fn parse(s: &str) -> Option<Sex> {
        match s.trim().to_ascii_lowercase().as_str() {
            "m" | "male" | "1" | "男" | "男性" => Some(Sex::M),
            "f" | "female" | "2" | "女" | "女性" => Some(Sex::F),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::M => "m",
            Sex::F => "f",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SexBands {
    All(Bands),
    BySex { m: Bands, f: Bands },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub code: String,
    pub name_ja: String,
    pub name_en: String,
    pub unit: String,
    pub decimals: u8,
    pub qualitative: bool,
    pub bands: SexBands,
    pub mhlw_hoken_shido: String,
    pub mhlw_jushin_kansho: String,
    pub jlac10: Vec<String>,
    pub source_key: String,
    pub status: String,
    /// What is not confirmed about this item's numbers (empty when nothing is flagged).
    pub unverified: String,
}

impl Item {
    /// The bands for a member of this sex; `None` when they depend on a sex not known.
    pub fn bands_for(&self, sex: Option<Sex>) -> Option<&Bands> {
        match (&self.bands, sex) {
            (SexBands::All(b), _) => Some(b),
            (SexBands::BySex { m, .. }, Some(Sex::M)) => Some(m),
            (SexBands::BySex { f, .. }, Some(Sex::F)) => Some(f),
            (SexBands::BySex { .. }, None) => None,
        }
    }

    /// The reference range (band A) as printed to members: `18.5–24.9`, `≤ 129`, `≥ 40`, `(−)`.
    pub fn reference_range(&self, sex: Option<Sex>) -> String {
        match self.bands_for(sex) {
            Some(Bands::Numeric(n)) => match n.a {
                Some(Interval { min: Some(lo), max: Some(hi) }) => {
                    format!("{}–{}", lo.format(self.decimals), hi.format(self.decimals))
                }
                Some(Interval { min: None, max: Some(hi) }) => format!("≤ {}", hi.format(self.decimals)),
                Some(Interval { min: Some(lo), max: None }) => format!("≥ {}", lo.format(self.decimals)),
                _ => String::new(),
            },
            Some(Bands::Qualitative(q)) => {
                q.iter().filter(|(_, b)| *b == Band::A).map(|(g, _)| g.display()).collect::<Vec<_>>().join(" ")
            }
            _ => String::new(),
        }
    }

    pub fn name(&self, english: bool) -> &str {
        if english { &self.name_en } else { &self.name_ja }
    }
}

#[derive(Debug, Clone)]
pub struct ReferenceTable {
    items: Vec<Item>,
    /// Short code (lowercase) and every 17-digit code → position in `items`.
    index: HashMap<String, usize>,
}

impl ReferenceTable {
    pub fn builtin() -> Result<Self, Vec<String>> {
        Self::parse(BUILTIN)
    }

    /// The file named in the configuration, or the built-in table.
    pub fn load(path: Option<&Path>) -> Result<Self, String> {
        let (text, name) = match path {
            Some(p) => {
                (std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?, p.display().to_string())
            }
            None => (BUILTIN.to_string(), "built-in checkup-reference.csv".to_string()),
        };
        Self::parse(&text).map_err(|errs| format!("{name}:\n  {}", errs.join("\n  ")))
    }

    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// An item by its short code (any case) or one of its 17-digit national codes.
    pub fn item(&self, code: &str) -> Option<&Item> {
        self.index.get(&code.trim().to_ascii_lowercase()).and_then(|i| self.items.get(*i))
    }

    /// Items whose numbers are flagged as not confirmed (for operators).
    pub fn unverified(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| !i.unverified.is_empty() || i.status.contains('U'))
    }

    /// Parses and checks a whole table; every problem is returned as `line N: …`.
    pub fn parse(text: &str) -> Result<Self, Vec<String>> {
        let records = csv::parse(text, true).map_err(|e| vec![format!("line {}: {}", e.line, e.message)])?;
        let mut it = records.into_iter();
        let Some(header) = it.next() else { return Err(vec!["the table is empty".into()]) };
        let names: Vec<String> = header.fields.iter().map(|f| f.trim().to_string()).collect();
        if names != COLUMNS {
            return Err(vec![format!("line {}: the header must be: {}", header.line, COLUMNS.join(","))]);
        }
        let mut errors = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        let mut seen = Vec::new();
        for rec in it {
            match parse_row(&rec) {
                Ok((item, sex)) => merge(&mut items, item, sex, rec.line, &mut seen, &mut errors),
                Err(e) => errors.extend(e.into_iter().map(|m| format!("line {}: {m}", rec.line))),
            }
        }
        let mut index = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            for key in std::iter::once(item.code.to_ascii_lowercase())
                .chain(item.jlac10.iter().map(|c| c.to_ascii_lowercase()))
            {
                if let Some(prev) = index.insert(key.clone(), i)
                    && prev != i
                {
                    errors.push(format!("code {key} belongs to both {} and {}", items[prev].code, item.code));
                }
            }
        }
        if items.is_empty() && errors.is_empty() {
            errors.push("the table has no items".into());
        }
        if errors.is_empty() { Ok(ReferenceTable { items, index }) } else { Err(errors) }
    }
}

fn merge(
    items: &mut Vec<Item>,
    mut item: Item,
    sex: Option<Sex>,
    line: usize,
    seen: &mut Vec<(String, Option<Sex>)>,
    errors: &mut Vec<String>,
) {
    let key = (item.code.clone(), sex);
    let clash = seen.iter().any(|(c, s)| *c == key.0 && (s.is_none() || sex.is_none() || *s == sex));
    if clash {
        errors.push(format!("line {line}: item {} is listed twice for the same sex", item.code));
        return;
    }
    seen.push(key);
    let SexBands::All(new) = std::mem::replace(&mut item.bands, SexBands::All(Bands::None)) else { return };
    match (items.iter_mut().find(|i| i.code == item.code), sex) {
        (Some(existing), Some(s)) => {
            if let SexBands::BySex { m, f } = &mut existing.bands {
                *(if s == Sex::M { m } else { f }) = new;
            }
        }
        (None, Some(s)) => {
            item.bands = if s == Sex::M {
                SexBands::BySex { m: new, f: Bands::None }
            } else {
                SexBands::BySex { m: Bands::None, f: new }
            };
            items.push(item);
        }
        (_, None) => {
            item.bands = SexBands::All(new);
            items.push(item);
        }
    }
}

fn parse_row(rec: &csv::Record) -> Result<(Item, Option<Sex>), Vec<String>> {
    let f = &rec.fields;
    if f.len() != COLUMNS.len() {
        return Err(vec![format!("expected {} columns, found {}", COLUMNS.len(), f.len())]);
    }
    let col = |name: &str| -> &str {
        COLUMNS.iter().position(|c| *c == name).and_then(|i| f.get(i)).map(|s| s.trim()).unwrap_or("")
    };
    let mut errs = Vec::new();
    let code = col("item_code").to_ascii_lowercase();
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        errs.push(format!("item_code {code:?} must be letters, digits and _"));
    }
    let sex = match col("sex") {
        "all" => None,
        s => match Sex::parse(s) {
            Some(x) if matches!(s, "m" | "f") => Some(x),
            _ => {
                errs.push(format!("sex must be all, m or f (got {s:?})"));
                None
            }
        },
    };
    let decimals = match col("decimals").parse::<u8>() {
        Ok(d) if d <= 3 => d,
        _ => {
            errs.push("decimals must be 0, 1, 2 or 3".into());
            0
        }
    };
    let mut num = |name: &str| -> Option<Milli> {
        let raw = col(name);
        if raw.is_empty() {
            return None;
        }
        match Milli::parse(raw) {
            Some(m) if m.round_to(decimals) == m => Some(m),
            Some(_) => {
                errs.push(format!("{name} = {raw} has more decimals than the item's precision ({decimals})"));
                None
            }
            None => {
                errs.push(format!("{name} = {raw:?} is not a number"));
                None
            }
        }
    };
    let pair =
        |lo: Option<Milli>, hi: Option<Milli>| (lo.is_some() || hi.is_some()).then_some(Interval { min: lo, max: hi });
    let n = NumericBands {
        a: pair(num("a_min"), num("a_max")),
        b_low: pair(num("b_low_min"), num("b_low_max")),
        b_high: pair(num("b_high_min"), num("b_high_max")),
        c_low: pair(num("c_low_min"), num("c_low_max")),
        c_high: pair(num("c_high_min"), num("c_high_max")),
        d_low_max: num("d_low_max"),
        d_high_min: num("d_high_min"),
    };
    let qual_spec = col("qualitative_bands");
    let bands = if !qual_spec.is_empty() {
        if n != NumericBands::default() {
            errs.push("an item has either numeric bands or qualitative_bands, not both".into());
        }
        let mut q = Vec::new();
        for part in qual_spec.split('|') {
            let parsed = part.rsplit_once(':').and_then(|(g, b)| Some((Qual::parse(g)?, Band::parse(b)?)));
            match parsed {
                Some((g, b)) if !q.iter().any(|(x, _)| *x == g) => q.push((g, b)),
                _ => errs.push(format!("qualitative_bands: {part:?} is not grade:band (e.g. ±:B) or repeats a grade")),
            }
        }
        Bands::Qualitative(q)
    } else if n == NumericBands::default() {
        Bands::None
    } else {
        errs.extend(check_numeric(&n));
        Bands::Numeric(n)
    };
    let item = Item {
        code,
        name_ja: col("name_ja").to_string(),
        name_en: col("name_en").to_string(),
        unit: col("unit").to_string(),
        decimals,
        qualitative: !qual_spec.is_empty(),
        bands: SexBands::All(bands),
        mhlw_hoken_shido: col("mhlw_hoken_shido").to_string(),
        mhlw_jushin_kansho: col("mhlw_jushin_kansho").to_string(),
        jlac10: col("jlac10_codes").split('|').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect(),
        source_key: col("source_key").to_string(),
        status: col("status").to_string(),
        unverified: col("unverified").to_string(),
    };
    if item.name_ja.is_empty() || item.name_en.is_empty() {
        errs.push("name_ja and name_en are required".into());
    }
    for c in &item.jlac10 {
        if c.len() != 17 || !c.chars().all(|ch| ch.is_ascii_alphanumeric()) {
            errs.push(format!("jlac10 code {c:?} must have 17 letters or digits"));
        }
    }
    if errs.is_empty() { Ok((item, sex)) } else { Err(errs) }
}

/// Bounds in order, no two bands overlapping, low-side bands below A and high-side above.
fn check_numeric(n: &NumericBands) -> Vec<String> {
    let mut errs = Vec::new();
    let all = n.intervals();
    for (_, name, i) in &all {
        if let (Some(lo), Some(hi)) = (i.min, i.max)
            && lo > hi
        {
            errs.push(format!("band {name}: minimum is above maximum"));
        }
    }
    for (x, (_, na, a)) in all.iter().enumerate() {
        for (_, nb, b) in all.iter().skip(x + 1) {
            if a.overlaps(b) {
                errs.push(format!("bands {na} and {nb} overlap"));
            }
        }
    }
    if let Some(a) = n.a {
        for (_, name, i) in &all {
            let low = name.ends_with("low");
            let high = name.ends_with("high");
            let below = matches!((i.max, a.min), (Some(m), Some(amin)) if m < amin);
            let above = matches!((i.min, a.max), (Some(m), Some(amax)) if m > amax);
            if (low && !below) || (high && !above) {
                errs.push(format!("band {name} must lie {} band A", if low { "below" } else { "above" }));
            }
        }
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "item_code,sex,name_ja,name_en,unit,decimals,a_min,a_max,b_low_min,b_low_max,b_high_min,b_high_max,c_low_min,c_low_max,c_high_min,c_high_max,d_low_max,d_high_min,qualitative_bands,mhlw_hoken_shido,mhlw_jushin_kansho,jlac10_codes,source_key,status,unverified";

    #[test]
    fn builtin_table_loads_with_every_required_item() {
        let t = ReferenceTable::builtin().unwrap_or_else(|e| unreachable!("{e:?}"));
        for code in [
            "height",
            "weight",
            "bmi",
            "waist",
            "sbp",
            "dbp",
            "tg",
            "hdl",
            "ldl",
            "ast",
            "alt",
            "ggt",
            "fpg",
            "hba1c",
            "urine_glucose",
            "urine_protein",
        ] {
            assert!(t.item(code).is_some(), "{code}");
        }
        assert_eq!(t.item("3D046000001906202").map(|i| i.code.as_str()), Some("hba1c"));
        assert_eq!(t.item("SBP").map(|i| i.code.as_str()), Some("sbp"));
        assert!(matches!(t.item("waist").map(|i| &i.bands), Some(SexBands::BySex { .. })));
        let flagged: Vec<&str> = t.unverified().map(|i| i.code.as_str()).collect();
        assert!(flagged.contains(&"fpg") && flagged.contains(&"urine_glucose"), "{flagged:?}");
    }

    #[test]
    fn reference_ranges_print_like_the_sources() {
        let t = ReferenceTable::builtin().unwrap_or_else(|e| unreachable!("{e:?}"));
        let r = |c: &str, s| t.item(c).map(|i| i.reference_range(s)).unwrap_or_default();
        assert_eq!(r("bmi", None), "18.5–24.9");
        assert_eq!(r("sbp", None), "≤ 129");
        assert_eq!(r("hdl", None), "≥ 40");
        assert_eq!(r("waist", Some(Sex::F)), "≤ 89.9");
        assert_eq!(r("waist", None), "");
        assert_eq!(r("urine_protein", None), "(−)");
        assert_eq!(r("height", None), "");
    }

    #[test]
    fn a_bad_table_is_refused_with_every_problem() {
        let text = format!(
            "{HEADER}\nx,all,X,X,mg,0,10,20,,,15,30,,,,,,,,,,,,,\ny,all,Y,Y,mg,0,10,20,,,,,,,,,,,,,,,,,\ny,all,Y,Y,mg,0,1.5,20,,,,,,,,,,,,,,,,,\nz,all,Z,Z,,0,,,,,,,,,,,,,-:A|?:B,,,,,,\n"
        );
        let errs = ReferenceTable::parse(&text).err().unwrap_or_default();
        let joined = errs.join("\n");
        assert!(joined.contains("line 2: bands A and B high overlap"), "{joined}");
        assert!(joined.contains("line 4:") && joined.contains("more decimals"), "{joined}");
        assert!(joined.contains("line 5: qualitative_bands"), "{joined}");
        assert!(ReferenceTable::parse("a,b\n").is_err());
        assert!(ReferenceTable::parse("").is_err());
    }

    #[test]
    fn low_side_bands_must_lie_below_a() {
        let text = format!("{HEADER}\nx,all,X,X,mg,0,10,20,,,,,25,30,,,,,,,,,,,\n");
        let errs = ReferenceTable::parse(&text).err().unwrap_or_default();
        assert!(errs.iter().any(|e| e.contains("C low must lie below band A")), "{errs:?}");
    }

    #[test]
    fn duplicate_codes_across_items_are_refused() {
        let text = format!(
            "{HEADER}\nx,all,X,X,mg,0,,,,,,,,,,,,,,,,9N001000000000001,,,\ny,all,Y,Y,mg,0,,,,,,,,,,,,,,,,9N001000000000001,,,\n"
        );
        let errs = ReferenceTable::parse(&text).err().unwrap_or_default();
        assert!(errs.iter().any(|e| e.contains("belongs to both")), "{errs:?}");
    }
}
