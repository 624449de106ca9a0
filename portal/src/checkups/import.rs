//! Reading a results file from the union: every row is validated and every bad row reported
//! with its line number; a file with any bad row yields nothing to import. Pure (no storage,
//! no clock: "today" is passed in).
//!
//! Columns (header required, any order; names in English or Japanese):
//!
//! | column | 列名 | content |
//! | --- | --- | --- |
//! | insurer_number | 保険者番号 | 6 or 8 digits, leading zeros kept |
//! | card_symbol | 記号 | as on the card (may be empty) |
//! | card_number | 番号 | as on the card |
//! | birthdate | 生年月日 | YYYY-MM-DD, YYYYMMDD or YYYY/MM/DD |
//! | checkup_date | 受診日 | same formats; not before birth, not in the future |
//! | item_code | 項目コード | our short code (`sbp`) or a 17-digit national code |
//! | value | 結果値 | a number in the item's unit, or a dipstick grade (`-` `±` `+` `2+` `3+`, or codes 1–5) |
//! | unit | 単位 | the item's unit (empty = the item's unit) |
//! | sex (optional) | 性別 | `m`/`f` (or 1/2, 男/女): needed where bands differ by sex (waist) |
//!
//! Every field goes through NFKC first, so full-width digits and letters are accepted.

use std::collections::HashMap;
use std::fmt;

use chrono::{Datelike, NaiveDate};

use super::csv;
use super::reference::{ReferenceTable, Sex};
use super::value::{Milli, Qual, Value, normalize};

/// Whose results these are: the insurance card and the birthdate, normalized.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberKey {
    pub insurer_number: String,
    pub card_symbol: String,
    pub card_number: String,
    /// YYYY-MM-DD
    pub birthdate: String,
}

impl MemberKey {
    /// The key from the IdP's claims, normalized exactly as import rows are, or `None` when a
    /// part is missing or malformed (then no result can be shown).
    pub fn from_claims(
        insurer: Option<&str>,
        symbol: Option<&str>,
        number: Option<&str>,
        birthdate: Option<&str>,
    ) -> Option<MemberKey> {
        Some(MemberKey {
            insurer_number: insurer_number(insurer?).ok()?,
            card_symbol: card_part(symbol.unwrap_or(""), true).ok()?,
            card_number: card_part(number?, false).ok()?,
            birthdate: date(birthdate?).ok()?.format("%Y-%m-%d").to_string(),
        })
    }
}

/// One validated result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultRow {
    pub line: usize,
    pub member: MemberKey,
    pub checkup_date: NaiveDate,
    /// The item's short code in the reference table.
    pub item_code: String,
    pub value: Value,
    pub unit: String,
    pub sex: Option<Sex>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportError {
    NotUtf8,
    /// No header, or a header but no data rows.
    Empty,
    /// Bad rows (or a bad header): nothing may be imported.
    Rows(Vec<RowError>),
}

impl fmt::Display for ImportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImportError::NotUtf8 => f.write_str("the file is not UTF-8 text (save it as CSV UTF-8)"),
            ImportError::Empty => f.write_str("the file has no data rows; nothing imported"),
            ImportError::Rows(errs) => {
                writeln!(f, "{} problem(s); nothing imported:", errs.len())?;
                for e in errs.iter().take(200) {
                    writeln!(f, "  line {}: {}", e.line, e.message)?;
                }
                if errs.len() > 200 {
                    writeln!(f, "  … and {} more", errs.len() - 200)?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Insurer,
    Symbol,
    Number,
    Birthdate,
    Date,
    Item,
    Value,
    Unit,
    Sex,
}

const REQUIRED: [Col; 8] =
    [Col::Insurer, Col::Symbol, Col::Number, Col::Birthdate, Col::Date, Col::Item, Col::Value, Col::Unit];

fn column(name: &str) -> Option<Col> {
    Some(match normalize(name).to_ascii_lowercase().as_str() {
        "insurer_number" | "保険者番号" => Col::Insurer,
        "card_symbol" | "記号" | "被保険者証記号" => Col::Symbol,
        "card_number" | "番号" | "被保険者証番号" => Col::Number,
        "birthdate" | "生年月日" => Col::Birthdate,
        "checkup_date" | "受診日" | "健診日" => Col::Date,
        "item_code" | "項目コード" => Col::Item,
        "value" | "結果値" | "値" => Col::Value,
        "unit" | "単位" => Col::Unit,
        "sex" | "性別" => Col::Sex,
        _ => return None,
    })
}

pub fn parse(bytes: &[u8], table: &ReferenceTable, today: NaiveDate) -> Result<Vec<ResultRow>, ImportError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ImportError::NotUtf8)?;
    let records = csv::parse(text, false)
        .map_err(|e| ImportError::Rows(vec![RowError { line: e.line, message: e.message.to_string() }]))?;
    let mut it = records.into_iter();
    let header = it.next().ok_or(ImportError::Empty)?;
    let mut cols = Vec::new();
    for name in &header.fields {
        match column(name) {
            Some(c) if !cols.contains(&c) => cols.push(c),
            _ => {
                let message = format!(
                    "unknown or repeated column {:?}; expected insurer_number,card_symbol,card_number,birthdate,checkup_date,item_code,value,unit[,sex]",
                    name.trim()
                );
                return Err(ImportError::Rows(vec![RowError { line: header.line, message }]));
            }
        }
    }
    if let Some(missing) = REQUIRED.iter().find(|c| !cols.contains(c)) {
        let message = format!("the header lacks a column ({missing:?})");
        return Err(ImportError::Rows(vec![RowError { line: header.line, message }]));
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<(MemberKey, NaiveDate, String), (usize, Value, String)> = HashMap::new();
    for rec in it {
        if rec.fields.len() != cols.len() {
            errors.push(RowError {
                line: rec.line,
                message: format!("expected {} fields, found {}", cols.len(), rec.fields.len()),
            });
            continue;
        }
        let get = |c: Col| {
            cols.iter().position(|x| *x == c).and_then(|i| rec.fields.get(i)).map(String::as_str).unwrap_or("")
        };
        match row(&get, rec.line, table, today) {
            Ok(r) => {
                let key = (r.member.clone(), r.checkup_date, r.item_code.clone());
                match seen.get(&key) {
                    Some((first, v, u)) if *v == r.value && *u == r.unit => {
                        let _ = first; // the same result twice: harmless, kept once
                    }
                    Some((first, _, _)) => errors.push(RowError {
                        line: rec.line,
                        message: format!("same member, date and item as line {first} but a different value"),
                    }),
                    None => {
                        seen.insert(key, (r.line, r.value, r.unit.clone()));
                        rows.push(r);
                    }
                }
            }
            Err(msgs) => errors.extend(msgs.into_iter().map(|message| RowError { line: rec.line, message })),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Rows(errors));
    }
    if rows.is_empty() {
        return Err(ImportError::Empty);
    }
    Ok(rows)
}

fn row<'a>(
    get: &dyn Fn(Col) -> &'a str,
    line: usize,
    table: &ReferenceTable,
    today: NaiveDate,
) -> Result<ResultRow, Vec<String>> {
    let mut errs = Vec::new();
    let mut take = |r: Result<String, String>| r.map_err(|e| errs.push(e)).ok();
    let insurer = take(insurer_number(get(Col::Insurer)));
    let symbol = take(card_part(get(Col::Symbol), true).map_err(|e| format!("card_symbol: {e}")));
    let number = take(card_part(get(Col::Number), false).map_err(|e| format!("card_number: {e}")));
    let birth = date(get(Col::Birthdate)).map_err(|e| errs.push(format!("birthdate: {e}"))).ok();
    let checkup = date(get(Col::Date)).map_err(|e| errs.push(format!("checkup_date: {e}"))).ok();
    if let Some(b) = birth
        && b > today
    {
        errs.push("birthdate is in the future".into());
    }
    if let Some(d) = checkup {
        if d > today {
            errs.push("checkup_date is in the future".into());
        }
        if birth.is_some_and(|b| d < b) {
            errs.push("checkup_date is before the birthdate".into());
        }
    }
    let sex = match normalize(get(Col::Sex)).as_str() {
        "" => None,
        s => match Sex::parse(s) {
            Some(x) => Some(x),
            None => {
                errs.push(format!("sex {s:?} must be m or f (or empty)"));
                None
            }
        },
    };
    let code = normalize(get(Col::Item));
    let item = table.item(&code);
    if item.is_none() {
        errs.push(if code.is_empty() { "item_code is empty".into() } else { format!("unknown item code {code:?}") });
    }
    let raw_value = normalize(get(Col::Value));
    let raw_unit = normalize(get(Col::Unit));
    let mut value = None;
    if let Some(item) = item {
        if item.qualitative {
            match Qual::parse(&raw_value) {
                Some(q) => value = Some(Value::Qualitative(q)),
                None => errs.push(format!("{}: {raw_value:?} is not a dipstick grade (- ± + 2+ 3+)", item.code)),
            }
        } else {
            match Milli::parse(&raw_value) {
                Some(m) if m.0 < 0 => errs.push(format!("{}: the value must not be negative", item.code)),
                Some(m) if m.0 >= 100_000_000 => {
                    errs.push(format!("{}: the value {raw_value} is implausibly large", item.code))
                }
                Some(m) => value = Some(Value::Number(m)),
                None => errs.push(format!("{}: {raw_value:?} is not a number (at most 3 decimals)", item.code)),
            }
        }
        if !raw_unit.is_empty() && unit_key(&raw_unit) != unit_key(&item.unit) {
            let want = if item.unit.is_empty() { "no unit".to_string() } else { item.unit.clone() };
            errs.push(format!("{}: unit {raw_unit:?} differs from {want}; convert the value first", item.code));
        }
    }
    match (insurer, symbol, number, birth, checkup, item, value) {
        (
            Some(insurer_number),
            Some(card_symbol),
            Some(card_number),
            Some(b),
            Some(checkup_date),
            Some(item),
            Some(value),
        ) if errs.is_empty() => Ok(ResultRow {
            line,
            member: MemberKey { insurer_number, card_symbol, card_number, birthdate: b.format("%Y-%m-%d").to_string() },
            checkup_date,
            item_code: item.code.clone(),
            value,
            unit: item.unit.clone(),
            sex,
        }),
        _ => Err(errs),
    }
}

fn insurer_number(raw: &str) -> Result<String, String> {
    let s = normalize(raw);
    if (s.len() == 8 || s.len() == 6) && s.bytes().all(|b| b.is_ascii_digit()) {
        Ok(s)
    } else {
        Err(format!("insurer_number {s:?} must be 8 (or 6) digits"))
    }
}

/// Card symbol and number: NFKC, dashes unified to `-`, spaces removed, letters upper-case.
/// The same function normalizes the IdP's claims, so both sides compare equal.
fn card_part(raw: &str, may_be_empty: bool) -> Result<String, String> {
    let s: String = normalize(raw)
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}') { '-' } else { c.to_ascii_uppercase() })
        .collect();
    if s.is_empty() && !may_be_empty {
        return Err("is empty".into());
    }
    if s.chars().count() > 20 || s.chars().any(char::is_control) {
        return Err(format!("{s:?} is too long or has control characters"));
    }
    Ok(s)
}

fn date(raw: &str) -> Result<NaiveDate, String> {
    let s = normalize(raw);
    ["%Y-%m-%d", "%Y%m%d", "%Y/%m/%d"]
        .iter()
        .find_map(|f| NaiveDate::parse_from_str(&s, f).ok().filter(|_| s.len() >= 8))
        .filter(|d| d.year() >= 1900)
        .ok_or_else(|| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// Units compared loosely: case, brackets and superscripts do not matter (`mm[Hg]` = `mmHg`,
/// `kg/m²` = `kg/m2`, `mg/dl` = `mg/dL`).
fn unit_key(u: &str) -> String {
    normalize(u)
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !matches!(c, '[' | ']' | ' '))
        .map(|c| if c == '²' { '2' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "insurer_number,card_symbol,card_number,birthdate,checkup_date,item_code,value,unit\n";

    fn table() -> ReferenceTable {
        ReferenceTable::builtin().unwrap_or_else(|e| unreachable!("{e:?}"))
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap_or_default()
    }

    fn parse_str(s: &str) -> Result<Vec<ResultRow>, ImportError> {
        parse(s.as_bytes(), &table(), today())
    }

    fn errors(r: Result<Vec<ResultRow>, ImportError>) -> Vec<RowError> {
        match r {
            Err(ImportError::Rows(e)) => e,
            other => unreachable!("expected row errors, got {other:?}"),
        }
    }

    #[test]
    fn a_good_file_parses_every_row() {
        let rows = parse_str(&format!(
            "{HEADER}06139999,1234,56,1979-08-22,2025-06-17,sbp,142,mmHg\n06139999,1234,56,19790822,2025/06/17,hba1c,5.8,%\n06139999,1234,56,1979-08-22,2025-06-17,urine_protein,±,\n06139999,1234,56,1979-08-22,2025-06-17,9A761000000000001,91,mm[Hg]\n"
        ))
        .unwrap_or_default();
        assert_eq!(rows.len(), 4);
        assert_eq!(
            rows[0].member,
            MemberKey {
                insurer_number: "06139999".into(),
                card_symbol: "1234".into(),
                card_number: "56".into(),
                birthdate: "1979-08-22".into()
            }
        );
        assert_eq!(rows[1].value, Value::Number(Milli(5_800)));
        assert_eq!(rows[1].member, rows[0].member);
        assert_eq!(rows[2].value, Value::Qualitative(Qual::Trace));
        assert_eq!(rows[3].item_code, "dbp");
        assert_eq!(rows[3].unit, "mmHg");
        assert_eq!(rows[0].line, 2);
    }

    #[test]
    fn full_width_digits_and_letters_are_accepted() {
        let rows = parse_str(&format!("{HEADER}０６１３９９９９,ａｂ－１２,５６,１９７９－０８－２２,２０２５－０６－１７,ＳＢＰ,１４２,ｍｍＨｇ\n")).unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].member.insurer_number, "06139999");
        assert_eq!(rows[0].member.card_symbol, "AB-12");
        assert_eq!(rows[0].member.card_number, "56");
        assert_eq!(rows[0].member.birthdate, "1979-08-22");
        assert_eq!(rows[0].value, Value::Number(Milli::from_int(142)));
    }

    #[test]
    fn a_bad_row_is_reported_with_its_line_and_nothing_is_returned() {
        let errs = errors(parse_str(&format!(
            "{HEADER}06139999,1234,56,1979-08-22,2025-06-17,sbp,142,mmHg\n06139999,1234,56,1979-08-22,2025-06-17,dbp,abc,mmHg\n06139999,1234,56,1979-08-22,2025-06-17,ldl,120,mmol/L\n"
        )));
        assert_eq!(errs.iter().map(|e| e.line).collect::<Vec<_>>(), vec![3, 4]);
        assert!(errs[0].message.contains("not a number"), "{errs:?}");
        assert!(errs[1].message.contains("unit"), "{errs:?}");
    }

    #[test]
    fn unknown_item_codes_are_reported() {
        let errs = errors(parse_str(&format!(
            "{HEADER}06139999,1234,56,1979-08-22,2025-06-17,cholesterol_x,142,mg/dL\n06139999,1234,56,1979-08-22,2025-06-17,9Z999000000000001,1,\n"
        )));
        assert_eq!(errs.len(), 2);
        assert!(errs[0].message.contains("unknown item code \"cholesterol_x\""), "{errs:?}");
        assert_eq!(errs[1].line, 3);
    }

    #[test]
    fn an_empty_file_or_a_header_alone_is_refused() {
        assert_eq!(parse_str(""), Err(ImportError::Empty));
        assert_eq!(parse_str("\n\n"), Err(ImportError::Empty));
        assert_eq!(parse_str(HEADER), Err(ImportError::Empty));
    }

    #[test]
    fn header_problems_name_line_one() {
        let errs = errors(parse_str("insurer_number,card_symbol,card_number,birthdate,checkup_date,item_code,value\n"));
        assert_eq!(errs[0].line, 1);
        let errs = errors(parse_str("insurer,card_symbol,card_number,birthdate,checkup_date,item_code,value,unit\n"));
        assert!(errs[0].message.contains("unknown or repeated column"));
    }

    #[test]
    fn japanese_headers_and_optional_sex_column() {
        let rows = parse_str("保険者番号,記号,番号,生年月日,受診日,項目コード,結果値,単位,性別\n06139999,1234,56,1979-08-22,2025-06-17,waist,88.2,cm,男\n").unwrap_or_default();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].sex, Some(Sex::M));
    }

    #[test]
    fn row_level_rules() {
        let errs = errors(parse_str(&format!(
            "{HEADER}0613999,1234,56,1979-08-22,2025-06-17,sbp,142,mmHg\n06139999,1234,,1979-08-22,2025-06-17,sbp,142,mmHg\n06139999,1234,56,1979-02-30,2025-06-17,sbp,142,mmHg\n06139999,1234,56,1979-08-22,2027-01-01,sbp,142,mmHg\n06139999,1234,56,1979-08-22,1970-01-01,sbp,142,mmHg\n06139999,1234,56,1979-08-22,2025-06-17,sbp,-5,mmHg\n06139999,1234,56,1979-08-22,2025-06-17,urine_glucose,positive,\n06139999,1234,56\n06139999,1234,56,1979-08-22,2025-06-17,sbp,142,mmHg,extra\n"
        )));
        let lines: Vec<usize> = errs.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7, 8, 9, 10], "{errs:?}");
    }

    #[test]
    fn duplicates_are_kept_once_and_conflicts_refused() {
        let same = format!(
            "{HEADER}06139999,1234,56,1979-08-22,2025-06-17,sbp,142,mmHg\n06139999,1234,56,1979-08-22,2025-06-17,sbp,142.0,mmHg\n"
        );
        assert_eq!(parse_str(&same).map(|r| r.len()), Ok(1));
        let conflict = format!(
            "{HEADER}06139999,1234,56,1979-08-22,2025-06-17,sbp,142,mmHg\n06139999,1234,56,1979-08-22,2025-06-17,sbp,143,mmHg\n"
        );
        let errs = errors(parse_str(&conflict));
        assert_eq!(errs[0].line, 3);
        assert!(errs[0].message.contains("line 2"));
    }

    #[test]
    fn not_utf8_is_refused() {
        assert_eq!(parse(&[0x83, 0x65, 0x83, 0x58, 0x83, 0x67], &table(), today()), Err(ImportError::NotUtf8));
    }

    #[test]
    fn claims_normalize_like_rows() {
        let k = MemberKey::from_claims(Some("06139999"), Some("ab‐12"), Some("５６"), Some("1979-08-22"));
        assert_eq!(k.map(|k| (k.card_symbol, k.card_number)), Some(("AB-12".into(), "56".into())));
        assert!(MemberKey::from_claims(Some("06139999"), None, Some("56"), Some("1979-08-22")).is_some());
        assert!(MemberKey::from_claims(None, Some("1"), Some("56"), Some("1979-08-22")).is_none());
        assert!(MemberKey::from_claims(Some("06139999"), Some("1"), Some("56"), None).is_none());
    }
}
