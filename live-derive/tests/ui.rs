//! Mistakes in `#[derive(LiveResource)]` inputs and the errors they give, one file per mistake
//! in `tests/ui/`; and in `tests/ui-pass/`, inputs that must compile and run.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
    cases.pass("tests/ui-pass/*.rs");
}
