// `sqlx::migrate!` embeds backend/migrations/ at compile time, but cargo only knows to
// recompile when a new migration file appears if told so.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
