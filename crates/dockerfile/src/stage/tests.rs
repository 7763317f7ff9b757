use super::*;

fn file(src: &str) -> Dockerfile {
    parse_dockerfile(src).unwrap()
}

fn error(src: &str) -> String {
    parse_dockerfile(src).unwrap_err().to_string()
}

#[test]
fn groups_instructions_into_stages_with_meta_args() {
    let f = file(
        "ARG BASE=alpine\nARG TAG\nFROM $BASE:$TAG AS Build\nRUN make\nFROM scratch\nCOPY --from=build /a /a\n",
    );
    let meta: Vec<_> = f
        .meta_args
        .iter()
        .map(|a| (a.name.as_str(), a.default.as_deref()))
        .collect();
    assert_eq!(meta, [("BASE", Some("alpine")), ("TAG", None)]);
    assert_eq!(f.stages.len(), 2);
    assert_eq!(f.stages[0].name.as_deref(), Some("build"));
    assert_eq!(f.stages[0].from.image, "$BASE:$TAG");
    assert_eq!(f.stages[0].instructions.len(), 1);
    assert_eq!(f.stages[0].span, Span::new(3, 1, 4));
    assert_eq!(f.stages[1].index, 1);
}

#[test]
fn stages_are_found_by_any_case_name_or_index() {
    let f = file("FROM a AS Builder\nFROM b\n");
    assert_eq!(f.stage("BUILDER").map(|s| s.index), Some(0));
    assert_eq!(f.stage("builder").map(|s| s.index), Some(0));
    assert_eq!(f.stage("1").map(|s| s.index), Some(1));
    assert!(f.stage("2").is_none());
    assert!(f.stage("nope").is_none());
}

#[test]
fn earlier_stages_and_images_may_be_referenced() {
    let f = file(
        "FROM a AS one\nFROM b\nCOPY --from=one /x /x\nCOPY --from=0 /y /y\nCOPY --from=nginx:latest /z /z\nRUN --mount=type=bind,from=one,target=/m true\nCOPY --from=$STAGE /w /w\n",
    );
    assert_eq!(f.stages[1].instructions.len(), 5);
}

#[test]
fn stage_errors() {
    let cases = [
        (
            "FROM a AS x\nFROM b AS X\n",
            "2:1: duplicate stage name \"x\", first defined on line 1",
        ),
        (
            "FROM a\nCOPY --from=later /a /a\nFROM b AS later\n",
            "2:6: stage \"later\" is referenced before it is defined",
        ),
        (
            "FROM a AS self\nCOPY --from=self /a /a\n",
            "2:6: stage \"self\" is referenced before it is defined",
        ),
        (
            "FROM a\nCOPY --from=1 /a /a\nFROM b\n",
            "2:6: stage \"1\" is referenced before it is defined",
        ),
        (
            "FROM a\nRUN --mount=from=next,target=/x true\nFROM b AS next\n",
            "2:5: stage \"next\" is referenced before it is defined",
        ),
        ("RUN x\nFROM a\n", "1:1: RUN must come after a FROM"),
        (
            "ARG a\n",
            "1:1: FROM: the Dockerfile has no FROM instruction",
        ),
        (
            "FROM a\nENV\n",
            "2:1: ENV: ENV requires at least one argument",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(error(src), want, "{src}");
    }
}
