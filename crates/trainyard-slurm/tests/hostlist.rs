//! Host list expansion and compression, including the forms Slurm emits.
use trainyard_slurm::hostlist::{compress, expand};

fn ex(s: &str) -> Vec<String> {
    expand(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn single_names_and_plain_lists() {
    assert_eq!(ex("n1"), ["n1"]);
    assert_eq!(ex("login"), ["login"]);
    assert_eq!(ex("a1,b2,c"), ["a1", "b2", "c"]);
    assert_eq!(ex(""), Vec::<String>::new());
    assert_eq!(ex(" n1 , n2 "), ["n1", "n2"]);
}

#[test]
fn ranges_and_singletons_in_brackets() {
    assert_eq!(ex("n[1-3,7]"), ["n1", "n2", "n3", "n7"]);
    assert_eq!(ex("n[1-2]"), ["n1", "n2"]);
    assert_eq!(ex("n[4]"), ["n4"]);
    assert_eq!(ex("n[1,3-4]"), ["n1", "n3", "n4"]);
    assert_eq!(ex("n[9-11]"), ["n9", "n10", "n11"]);
}

#[test]
fn zero_padding_is_kept() {
    assert_eq!(
        ex("gpu[001-004,010]"),
        ["gpu001", "gpu002", "gpu003", "gpu004", "gpu010"]
    );
    assert_eq!(ex("gpu[098-101]"), ["gpu098", "gpu099", "gpu100", "gpu101"]);
}

#[test]
fn mixed_items_with_and_without_brackets() {
    assert_eq!(ex("a1,b[2-3]"), ["a1", "b2", "b3"]);
    assert_eq!(ex("b[2-3],a1,c[1,5]"), ["b2", "b3", "a1", "c1", "c5"]);
}

#[test]
fn several_brackets_are_a_cross_product_with_suffixes() {
    assert_eq!(
        ex("rack[1-2]-n[1-2]"),
        ["rack1-n1", "rack1-n2", "rack2-n1", "rack2-n2"]
    );
    assert_eq!(ex("n[1-2].ib"), ["n1.ib", "n2.ib"]);
    assert_eq!(ex("dgx-[01-02]-gpu"), ["dgx-01-gpu", "dgx-02-gpu"]);
}

#[test]
fn bad_lists_are_errors_not_panics() {
    for bad in [
        "n[1-3",
        "n1-3]",
        "n[3-1]",
        "n[a-b]",
        "n[]",
        "n[1,,2]",
        "n[[1]]",
        "n[1-]",
        "n[99999999999999999999]",
        "n[1-999999999]",
    ] {
        let e = expand(bad).expect_err(bad);
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[test]
fn compress_is_the_inverse() {
    assert_eq!(compress(["n1", "n2", "n3", "n7"]), "n[1-3,7]");
    assert_eq!(compress(["n2"]), "n2");
    assert_eq!(compress(["n9", "n10"]), "n[9-10]");
    assert_eq!(compress(["gpu001", "gpu002", "gpu010"]), "gpu[001-002,010]");
    assert_eq!(compress(["n3", "n1", "n2", "n1"]), "n[1-3]");
    assert_eq!(compress(["a1", "b2", "b3", "login"]), "a1,b[2-3],login");
    assert_eq!(compress(Vec::<String>::new()), "");
    for list in ["n[1-3,7]", "gpu[001-004,010]", "a1,b[2-3]", "n[1-4]"] {
        assert_eq!(ex(&compress(ex(list))), ex(list), "{list}");
    }
}
