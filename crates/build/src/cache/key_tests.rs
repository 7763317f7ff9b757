use super::*;

fn base() -> Digest {
    Digest::of(b"base manifest")
}

fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn key(text: &str, variables: &[(String, String)]) -> CacheKey {
    let base = base();
    CacheKey::compute(&StepInput {
        parent: Parent::Image(&base),
        instruction: Instruction {
            text,
            escape: '\\',
            heredocs: &[],
        },
        variables,
        sources: None,
        from: None,
        platform: "linux/amd64",
    })
}

#[test]
fn the_same_step_gets_the_same_key_whatever_the_spacing_and_variable_order() {
    let a = key("RUN make  \\\n all", &vars(&[("A", "1"), ("B", "2")]));
    let b = key("run make all", &vars(&[("B", "2"), ("A", "1")]));
    assert_eq!(a, b);
    assert_eq!(a.hex().len(), 64);
}

#[test]
fn keys_are_stable_across_runs_and_machines() {
    // The value follows the documented recipe (checked with Python's hashlib). A change of it
    // invalidates every existing cache: bump VERSION with it.
    let k = key("RUN make all", &vars(&[("A", "1")]));
    assert_eq!(
        k.to_string(),
        "sha256:95f1fc1c5a63da002d5921b348ef35ba3338f63bfae35559a217cc0be1176ab8"
    );
}

#[test]
fn explain_names_the_first_component_that_differs() {
    let digest = Digest::of(b"sources one");
    let other = Digest::of(b"sources two");
    let stage = key("FROM x", &[]);
    let image = Digest::of(b"image");
    let input = |text, vars: &'static [(String, String)], sources, from, platform| StepInput {
        parent: Parent::Step(&stage),
        instruction: Instruction {
            text,
            escape: '\\',
            heredocs: &[],
        },
        variables: vars,
        sources,
        from,
        platform,
    };
    let old = CacheKey::compute(&input("COPY a /", &[], Some(&digest), None, "linux/amd64"));
    let cases: [(StepInput<'_>, Option<&str>); 6] = [
        (
            input("COPY a /", &[], Some(&digest), None, "linux/amd64"),
            None,
        ),
        (
            input("COPY b /", &[], Some(&other), None, "linux/amd64"),
            Some("instruction"),
        ),
        (
            input("COPY a /", &[], Some(&other), None, "linux/amd64"),
            Some("sources"),
        ),
        (
            input(
                "COPY a /",
                &[],
                Some(&digest),
                Some(FromSource::Image(&image)),
                "linux/amd64",
            ),
            Some("from"),
        ),
        (
            input("COPY a /", &[], Some(&digest), None, "linux/arm64"),
            Some("platform"),
        ),
        (
            input("COPY a /", &[], None, None, "linux/amd64"),
            Some("sources"),
        ),
    ];
    for (new, want) in cases {
        let new = CacheKey::compute(&new);
        assert_eq!(explain(&old, &new), want, "{new:?}");
        assert_eq!(new == old, want.is_none());
    }
    let parent = key("RUN other", &[]);
    let mut moved = input("COPY a /", &[], Some(&digest), None, "linux/amd64");
    moved.parent = Parent::Step(&parent);
    assert_eq!(explain(&old, &CacheKey::compute(&moved)), Some("parent"));
}

#[test]
fn a_changed_variable_changes_the_key_and_is_explained_without_its_value() {
    let old = key("RUN make", &vars(&[("TOKEN", "hunter2")]));
    let new = key("RUN make", &vars(&[("TOKEN", "swordfish")]));
    assert_eq!(explain(&old, &new), Some("variables"));
    for printed in [format!("{new}"), format!("{new:?}"), format!("{new:#?}")] {
        assert!(!printed.contains("swordfish"), "{printed}");
        assert!(!printed.contains("TOKEN"), "{printed}");
    }
    assert!(format!("{new:?}").contains("variables"));
}

#[test]
fn components_do_not_run_into_each_other() {
    // "AB"="" and "A"="B" must not hash alike.
    let a = key("RUN x", &vars(&[("AB", "")]));
    let b = key("RUN x", &vars(&[("A", "B")]));
    assert_ne!(a, b);
    let heredoc = |bodies: &[String]| {
        let base = base();
        CacheKey::compute(&StepInput {
            parent: Parent::Image(&base),
            instruction: Instruction {
                text: "RUN <<EOF",
                escape: '\\',
                heredocs: bodies,
            },
            variables: &[],
            sources: None,
            from: None,
            platform: "linux/amd64",
        })
    };
    let one = heredoc(&["echo  a\n".to_owned()]);
    let two = heredoc(&["echo a\n".to_owned()]);
    assert_eq!(explain(&one, &two), Some("instruction"));
}

#[test]
fn a_base_image_a_previous_step_and_scratch_are_different_parents() {
    let digest = base();
    let step = key("RUN a", &[]);
    let parents = [Parent::Image(&digest), Parent::Step(&step), Parent::Scratch];
    let keys: Vec<_> = parents
        .into_iter()
        .map(|parent| {
            CacheKey::compute(&StepInput {
                parent,
                instruction: Instruction {
                    text: "RUN b",
                    escape: '\\',
                    heredocs: &[],
                },
                variables: &[],
                sources: None,
                from: None,
                platform: "linux/amd64",
            })
        })
        .collect();
    assert_ne!(keys[0], keys[1]);
    assert_ne!(keys[1], keys[2]);
    assert_ne!(keys[0], keys[2]);
}
