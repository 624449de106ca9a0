// Migrations are embedded by a macro, which cargo does not track: rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../migrations/idp");
}
