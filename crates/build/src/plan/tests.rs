use super::*;
use kiln_dockerfile::parse_dockerfile;

fn options(target: Option<&str>, skip: bool, args: &[&str]) -> PlanOptions {
    PlanOptions {
        build_args: BuildArgs::parse(args, |_| None).unwrap(),
        target: target.map(str::to_owned),
        skip_unused_stages: skip,
        target_platform: Platform::new("linux", "arm64", None),
        build_platform: Platform::new("linux", "amd64", None),
    }
}

fn plan(src: &str, opts: &PlanOptions) -> Result<Plan, Error> {
    Plan::new(&parse_dockerfile(src).unwrap(), opts)
}

const MULTI: &str = "\
FROM alpine AS base
FROM base AS build
COPY --from=0 /a /a
FROM scratch AS unused
FROM busybox AS tools
FROM build AS final
COPY --from=tools /bin/x /x
RUN --mount=type=bind,from=docs,target=/d true
";

fn built(p: &Plan) -> Vec<usize> {
    p.stages.iter().map(|s| s.index).collect()
}

#[test]
fn skip_unused_stages_builds_only_what_the_target_needs() {
    let cases: &[(Option<&str>, bool, &[usize])] = &[
        (None, true, &[0, 1, 3, 4]),
        (None, false, &[0, 1, 2, 3, 4]),
        (Some("BUILD"), true, &[0, 1]),
        (Some("build"), false, &[0, 1]),
        (Some("2"), true, &[2]),
        (Some("2"), false, &[0, 1, 2]),
        (Some("tools"), true, &[3]),
    ];
    for (target, skip, want) in cases {
        let p = plan(MULTI, &options(*target, *skip, &[])).unwrap();
        assert_eq!(built(&p), *want, "{target:?} skip={skip}");
    }
}

#[test]
fn stages_record_bases_and_dependencies() {
    let p = plan(MULTI, &options(None, false, &[])).unwrap();
    assert!(matches!(&p.stages[0].base, Base::Image(r) if r.repository() == "library/alpine"));
    assert_eq!(p.stages[1].base, Base::Stage(0));
    assert_eq!(p.stages[1].stages, [0]);
    assert_eq!(p.stages[2].base, Base::Scratch);
    assert_eq!(p.stages[4].base, Base::Stage(1));
    assert_eq!(p.stages[4].stages, [1, 3]);
    let images: Vec<_> = p.stages[4].images.iter().map(|r| r.familiar()).collect();
    assert_eq!(images, ["docs:latest"]);
    assert_eq!(p.target, 4);
}

#[test]
fn unknown_target_lists_the_stages() {
    let err = plan(MULTI, &options(Some("nope"), false, &[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target stage \"nope\" could not be found (stages: base, build, unused, tools, final)"
    );
    let err = plan("FROM a\nFROM b AS x\n", &options(Some("5"), false, &[])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "target stage \"5\" could not be found (stages: 0, x)"
    );
}

#[test]
fn from_lines_expand_meta_args_and_platform_args() {
    let src = "ARG TAG=3.19\nARG IMG=alpine\nFROM --platform=$BUILDPLATFORM ${IMG}:${TAG} AS b\nFROM ${IMG}:$TARGETARCH\n";
    let p = plan(src, &options(None, false, &["TAG=3.20"])).unwrap();
    match &p.stages[0].base {
        Base::Image(r) => assert_eq!(r.tag(), Some("3.20")),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        p.stages[0].platform,
        Some(Platform::new("linux", "amd64", None))
    );
    match &p.stages[1].base {
        Base::Image(r) => assert_eq!(r.tag(), Some("arm64")),
        other => panic!("{other:?}"),
    }
    assert_eq!(p.stages[1].platform, None);
    assert!(p.secret_meta_args.contains("TAG"));
    assert!(!p.secret_meta_args.contains("IMG"));
}

#[test]
fn from_an_earlier_stage_is_found_after_expansion_and_case_folding() {
    let src = "ARG B=Builder\nFROM scratch AS builder\nFROM $B\nCOPY --from=${B} / /\n";
    let p = plan(src, &options(None, false, &[])).unwrap();
    assert_eq!(p.stages[1].base, Base::Stage(0));
    assert_eq!(p.stages[1].stages, [0]);
    assert!(p.stages[1].images.is_empty());
}

#[test]
fn bad_from_lines_point_at_the_line() {
    let cases = [
        (
            "ARG X\nFROM $X\n",
            "2:1: stage 0: base name ($X) should not be blank",
        ),
        (
            "FROM Alpine:Bad:Tag\n",
            "1:1: stage 0: invalid image reference \"Alpine:Bad:Tag\"",
        ),
        (
            "FROM a\nFROM --platform=linux/nope/x/y b AS two\n",
            "2:1: stage two: invalid platform \"linux/nope/x/y\"",
        ),
        (
            "FROM a\nCOPY --from=Not:Valid:Ref / /\n",
            "2:6: stage 0: invalid image reference \"Not:Valid:Ref\"",
        ),
        (
            "FROM ${X:?needX}\n",
            "1:1: stage 0: cannot expand \"${X:?needX}\"",
        ),
    ];
    for (src, want) in cases {
        let err = plan(src, &options(None, false, &[])).unwrap_err();
        assert_eq!(err.to_string(), want, "{src}");
    }
}

#[test]
fn build_args_take_bare_keys_from_the_environment() {
    let env = |k: &str| (k == "FROM_ENV").then(|| "e".to_owned());
    let args = BuildArgs::parse(&["A=1", "B=", "FROM_ENV", "MISSING", "A=2", "C=x=y"], env)
        .unwrap()
        .0;
    let want: BTreeMap<String, String> = [("A", "2"), ("B", ""), ("C", "x=y"), ("FROM_ENV", "e")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(args, want);
    assert!(BuildArgs::parse(&["=x"], env).is_err());
}

#[test]
fn meta_args_derived_from_build_args_are_secret() {
    let src = "ARG TOKEN\nARG URL=https://x/?t=$TOKEN\nARG PLAIN=1\nFROM a\n";
    let p = plan(src, &options(None, false, &["TOKEN=s3cr3t"])).unwrap();
    let secret: Vec<_> = p.secret_meta_args.iter().map(String::as_str).collect();
    assert_eq!(secret, ["TOKEN", "URL"]);
}

#[test]
fn a_parents_onbuild_copy_from_is_a_dependency_of_the_child() {
    let src = "FROM a AS assets\nFROM b AS parent\nONBUILD COPY --from=assets / /\nFROM parent\n";
    let p = plan(src, &options(None, true, &[])).unwrap();
    assert_eq!(built(&p), [0, 1, 2]);
    assert_eq!(p.stages[2].stages, [0, 1]);
    assert!(p.stages[1].stages.is_empty());
}

#[test]
fn layers_unused_are_stages_no_target_is_built_from() {
    let p = plan(MULTI, &options(None, false, &[])).unwrap();
    // 0 is the base of 1, 1 of 4 (the target); 2 is read by nothing, 3 only by COPY --from.
    assert_eq!(p.layers_unused(), BTreeSet::from([2, 3]));
    assert_eq!(p.last_reader(0), Some(1));
    assert_eq!(p.last_reader(3), Some(4));
    assert_eq!(p.last_reader(2), None);
    // Built up to `tools`: `build` is the base of nothing built.
    let p = plan(MULTI, &options(Some("tools"), false, &[])).unwrap();
    assert_eq!(p.layers_unused(), BTreeSet::from([1, 2]));
}
