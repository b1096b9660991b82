//! docs/CONFORMANCE.md lists the checks as the kit defines them (`bars conformance list
//! --markdown` writes the table).

use std::collections::BTreeSet;

#[test]
fn the_documented_check_list_is_the_kits() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/CONFORMANCE.md"
    ))
    .expect("docs/CONFORMANCE.md");
    let table = bars_conformance::report::markdown(&bars_conformance::checks::all());
    assert!(
        doc.contains(&table),
        "docs/CONFORMANCE.md's check list is out of date: regenerate it with `bars conformance list --markdown`"
    );
}

#[test]
fn the_documented_sender_check_list_is_the_kits() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/CONFORMANCE.md"
    ))
    .expect("docs/CONFORMANCE.md");
    let table =
        bars_conformance::sender::checks::markdown(&bars_conformance::sender::checks::all());
    assert!(
        doc.contains(&table),
        "docs/CONFORMANCE.md's sender check list is out of date: regenerate it with `bars conformance list --sender --markdown`"
    );
}

#[test]
fn check_ids_are_unique() {
    let all = bars_conformance::checks::all();
    let sender = bars_conformance::sender::checks::all();
    let ids: BTreeSet<&str> = all
        .iter()
        .map(|c| c.id)
        .chain(sender.iter().map(|c| c.id))
        .collect();
    assert_eq!(
        ids.len(),
        all.len() + sender.len(),
        "two checks share an id"
    );
}
