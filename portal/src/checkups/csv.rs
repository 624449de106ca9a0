//! A small RFC 4180 reader: comma-separated, `"`-quoted fields (a quote doubled inside), CRLF
//! or LF line ends, an optional UTF-8 byte-order mark. Each record carries the line it starts
//! on, so that every complaint can name a line. Pure.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub line: usize,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvError {
    pub line: usize,
    pub message: &'static str,
}

/// Splits `text` into records. Blank lines are skipped; so are lines starting with `#` when
/// `comments` is set (the reference table documents its sources that way).
pub fn parse(text: &str, comments: bool) -> Result<Vec<Record>, CsvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    while chars.peek().is_some() {
        let start = line;
        if comments && chars.peek() == Some(&'#') {
            for c in chars.by_ref() {
                if c == '\n' {
                    break;
                }
            }
            line += 1;
            continue;
        }
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut was_quoted = false;
        loop {
            let Some(c) = chars.next() else {
                if quoted {
                    return Err(CsvError { line: start, message: "a quoted field is not closed" });
                }
                break;
            };
            if quoted {
                match c {
                    '"' if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    '"' => quoted = false,
                    '\n' => {
                        line += 1;
                        field.push('\n');
                    }
                    _ => field.push(c),
                }
                continue;
            }
            match c {
                '"' if field.is_empty() && !was_quoted => {
                    quoted = true;
                    was_quoted = true;
                }
                '"' => return Err(CsvError { line: start, message: "a quote inside an unquoted field" }),
                ',' => {
                    fields.push(std::mem::take(&mut field));
                    was_quoted = false;
                }
                '\r' if chars.peek() == Some(&'\n') => {}
                '\n' => {
                    line += 1;
                    break;
                }
                _ if was_quoted => return Err(CsvError { line: start, message: "text after a closing quote" }),
                _ => field.push(c),
            }
        }
        fields.push(field);
        let blank = fields.len() == 1 && fields[0].trim().is_empty();
        if !blank {
            out.push(Record { line: start, fields });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_line_numbers_and_blank_lines() {
        let r =
            parse("\u{feff}a,b\r\n\n\"x,1\",\"say \"\"hi\"\"\"\n\"multi\nline\",z\nlast,", false).unwrap_or_default();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0], Record { line: 1, fields: vec!["a".into(), "b".into()] });
        assert_eq!(r[1], Record { line: 3, fields: vec!["x,1".into(), "say \"hi\"".into()] });
        assert_eq!(r[2].line, 4);
        assert_eq!(r[2].fields[0], "multi\nline");
        assert_eq!(r[3], Record { line: 6, fields: vec!["last".into(), String::new()] });
    }

    #[test]
    fn comments_only_when_asked() {
        assert_eq!(parse("# c\na\n", true).map(|r| r.len()), Ok(1));
        assert_eq!(parse("# c\na\n", false).map(|r| r.len()), Ok(2));
    }

    #[test]
    fn malformed_quotes_are_errors_with_lines() {
        assert_eq!(parse("ok\n\"open", false), Err(CsvError { line: 2, message: "a quoted field is not closed" }));
        assert_eq!(parse("a\"b", false).map_err(|e| e.line), Err(1));
        assert_eq!(parse("\"a\"b", false).map_err(|e| e.line), Err(1));
    }
}
