// Rebuild when embedded files change: migrations, templates, catalogs, styles and data.
fn main() {
    for dir in ["../migrations/portal", "templates", "locales", "static", "data"] {
        println!("cargo:rerun-if-changed={dir}");
    }
}
