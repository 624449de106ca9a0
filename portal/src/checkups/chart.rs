//! Trend charts as server-rendered SVG: one line per item across the checkup years, the
//! reference range shaded, each point coloured by its band and labelled with its value so the
//! chart reads without colour too. The SVG scales to the phone's width (viewBox only) and
//! needs no script. Pure.

use std::fmt::Write;

use super::bands::Band;

/// One point: the year label, the position on the value axis, the text printed at it.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub label: String,
    pub y: f64,
    pub text: String,
    pub band: Option<Band>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub unit: String,
    pub points: Vec<Point>,
    /// The reference range (band A) on the value axis; either side may be open.
    pub reference: Option<(Option<f64>, Option<f64>)>,
    /// Axis labels for dipstick items (grade names by rank) instead of numbers.
    pub grades: Option<Vec<String>>,
}

const W: f64 = 340.0;
const H: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 14.0;
const TOP: f64 = 18.0;
const BOTTOM: f64 = 34.0;

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn fmt_num(v: f64) -> String {
    let r = (v * 10.0).round() / 10.0;
    if (r - r.round()).abs() < 1e-9 { format!("{}", r.round() as i64) } else { format!("{r:.1}") }
}

impl Chart {
    /// The value axis: data and reference bounds, padded, never empty.
    fn y_range(&self) -> (f64, f64) {
        if let Some(g) = &self.grades {
            return (-0.5, (g.len().max(2) as f64) - 0.5);
        }
        let mut vals: Vec<f64> = self.points.iter().map(|p| p.y).collect();
        if let Some((lo, hi)) = self.reference {
            vals.extend(lo);
            vals.extend(hi);
        }
        let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
        let max = vals.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if !min.is_finite() || !max.is_finite() {
            return (0.0, 1.0);
        }
        let pad = ((max - min) * 0.12).max(max.abs() * 0.02).max(0.5);
        ((min - pad).max(if min >= 0.0 { 0.0 } else { f64::NEG_INFINITY }), max + pad)
    }

    pub fn to_svg(&self) -> String {
        let (lo, hi) = self.y_range();
        let plot_w = W - LEFT - RIGHT;
        let plot_h = H - TOP - BOTTOM;
        let y_of = |v: f64| TOP + plot_h - (v - lo) / (hi - lo) * plot_h;
        let n = self.points.len();
        let x_of = |i: usize| {
            if n <= 1 { LEFT + plot_w / 2.0 } else { LEFT + 12.0 + (plot_w - 24.0) * i as f64 / (n - 1) as f64 }
        };
        let summary: Vec<String> = self.points.iter().map(|p| format!("{} {}", p.label, p.text)).collect();
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg class="trend" viewBox="0 0 {W} {H}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg"><title>{}</title>"#,
            escape(&format!("{} ({}): {}", self.title, self.unit, summary.join(", "))),
            escape(&self.title)
        );
        if let Some((rlo, rhi)) = self.reference {
            let top = y_of(rhi.unwrap_or(hi).min(hi));
            let bottom = y_of(rlo.unwrap_or(lo).max(lo));
            if bottom > top {
                let _ = write!(
                    s,
                    r##"<rect class="ref" x="{LEFT}" y="{top:.1}" width="{plot_w}" height="{:.1}" fill="#e3f4e8"/>"##,
                    bottom - top
                );
            }
        }
        let _ = write!(
            s,
            r##"<line class="axis" x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#8c959f"/>"##,
            TOP + plot_h,
            W - RIGHT,
            TOP + plot_h
        );
        let _ = write!(
            s,
            r##"<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{:.1}" stroke="#8c959f"/>"##,
            TOP + plot_h
        );
        match &self.grades {
            Some(grades) => {
                for (i, g) in grades.iter().enumerate() {
                    let _ = write!(
                        s,
                        r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
                        LEFT - 4.0,
                        y_of(i as f64) + 4.0,
                        escape(g)
                    );
                }
            }
            None => {
                for v in [lo, (lo + hi) / 2.0, hi] {
                    let _ = write!(
                        s,
                        r#"<text class="tick" x="{:.1}" y="{:.1}" text-anchor="end" font-size="11">{}</text>"#,
                        LEFT - 4.0,
                        y_of(v) + 4.0,
                        fmt_num(v)
                    );
                }
            }
        }
        if n > 1 {
            let pts: Vec<String> =
                self.points.iter().enumerate().map(|(i, p)| format!("{:.1},{:.1}", x_of(i), y_of(p.y))).collect();
            let _ = write!(
                s,
                r##"<polyline class="line" points="{}" fill="none" stroke="#1d5fa8" stroke-width="2"/>"##,
                pts.join(" ")
            );
        }
        for (i, p) in self.points.iter().enumerate() {
            let (x, y) = (x_of(i), y_of(p.y));
            let (class, colour) = match p.band {
                Some(Band::A) => ("band-a", "#2e7d32"),
                Some(Band::B) => ("band-b", "#b7950b"),
                Some(Band::C) => ("band-c", "#d35400"),
                Some(Band::D) => ("band-d", "#b42318"),
                None => ("band-none", "#59636e"),
            };
            let _ = write!(s, r#"<circle class="pt {class}" cx="{x:.1}" cy="{y:.1}" r="5" fill="{colour}"/>"#);
            let letter = p.band.map(|b| format!(" {}", b.letter())).unwrap_or_default();
            let ty = if y - 10.0 < TOP { y + 18.0 } else { y - 9.0 };
            let _ = write!(
                s,
                r#"<text class="val" x="{x:.1}" y="{ty:.1}" text-anchor="middle" font-size="11">{}{}</text>"#,
                escape(&p.text),
                letter
            );
            let _ = write!(
                s,
                r#"<text class="year" x="{x:.1}" y="{:.1}" text-anchor="middle" font-size="11">{}</text>"#,
                H - 12.0,
                escape(&p.label)
            );
        }
        s.push_str("</svg>");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart() -> Chart {
        Chart {
            title: "収縮期血圧 <script>".into(),
            unit: "mmHg".into(),
            points: vec![
                Point { label: "2024".into(), y: 138.0, text: "138".into(), band: Some(Band::B) },
                Point { label: "2025".into(), y: 142.0, text: "142".into(), band: Some(Band::C) },
            ],
            reference: Some((None, Some(129.0))),
            grades: None,
        }
    }

    #[test]
    fn svg_has_points_labels_and_reference_band() {
        let svg = chart().to_svg();
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("viewBox=\"0 0 340 200\""));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("band-c") && svg.contains(">142 C</text>") && svg.contains(">2024</text>"));
        assert!(svg.contains("<polyline") && svg.contains("class=\"ref\""));
        assert!(!svg.contains("<script>"), "text is escaped");
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn one_point_and_grades_and_flat_values_render() {
        let mut c = chart();
        c.points.truncate(1);
        assert!(!c.to_svg().contains("<polyline"));
        c.grades = Some(vec!["(−)".into(), "(±)".into(), "(+)".into()]);
        c.reference = None;
        c.points[0].y = 1.0;
        let svg = c.to_svg();
        assert!(svg.contains(">(±)</text>"));
        let flat = Chart {
            points: vec![Point { label: "2025".into(), y: 0.0, text: "0".into(), band: None }],
            reference: None,
            grades: None,
            ..chart()
        };
        assert!(!flat.to_svg().contains("NaN"));
    }
}
