//! The committed `schema.graphql` is the contract front-ends build against: it must be what the code serves.

#[test]
fn committed_schema_matches_the_code() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../schema.graphql");
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    let generated = api::graphql::sdl();
    assert!(committed == generated, "schema.graphql is out of date: run `cargo run -p api -- schema > schema.graphql`");
}
