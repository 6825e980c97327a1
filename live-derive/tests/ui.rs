//! Mistakes in `#[derive(LiveResource)]` inputs and the errors they give, one file per mistake
//! in `tests/ui/`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
