//! `.dockerignore` against the oracle: Docker itself. A context with files chosen to exercise
//! every pattern rule is built with `docker build` (`COPY . /ctx`), and the files that land in
//! the image must be exactly those `Matcher` keeps.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use kiln_dockerfile::ignore::Matcher;

const FILES: &[&str] = &[
    "a.md",
    "README.md",
    "docs/README.md",
    "docs/deep/x.md",
    "docs/deep/y.txt",
    "build/out.bin",
    "src/build/keep.txt",
    "node_modules/p/index.js",
    "keep",
    "other",
    "dir/keep",
    "dir/other",
    "dir/sub/file",
    "x.txt",
    "ab.txt",
    "logs/1.log",
    "logs/important.log",
    "logs/nested/2.log",
    "weird[1].txt",
    "space name.txt",
];

const DOCKERIGNORE: &str = "# comment line\n*.md\n!README.md\n**/deep\n/build\n./node_modules\ndir/*\n!dir/keep\n?.txt\nlogs/*.log\n!logs/important.log\nweird\\[1\\].txt\n  space name.txt  \n";

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs the test environment"]
fn dockerignore_keeps_what_docker_build_keeps() {
    let registry = std::env::var("KILN_TEST_REGISTRY")
        .expect("KILN_TEST_REGISTRY must name the test registry (run scripts/testenv up)");
    let dir = tempfile::tempdir().expect("temp dir");
    let context = dir.path();
    for file in FILES {
        let path = context.join(file);
        std::fs::create_dir_all(path.parent().unwrap_or(Path::new("."))).expect("mkdir");
        std::fs::write(&path, file.as_bytes()).expect("write context file");
    }
    std::fs::write(context.join(".dockerignore"), DOCKERIGNORE).expect("write .dockerignore");
    let outside = tempfile::NamedTempFile::new().expect("temp Dockerfile");
    std::fs::write(
        outside.path(),
        format!("FROM {registry}/busybox:latest\nCOPY . /ctx\n"),
    )
    .expect("write Dockerfile");
    let tag = format!("kiln-ignore-oracle:{}", std::process::id());
    run(Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-f"])
        .arg(outside.path())
        .arg(context));
    let listing = run(Command::new("docker").args([
        "run",
        "--rm",
        &tag,
        "sh",
        "-c",
        "cd /ctx && find . -type f",
    ]));
    let _ = Command::new("docker").args(["rmi", "-f", &tag]).output();
    let docker: BTreeSet<String> = listing
        .lines()
        .map(|l| l.trim_start_matches("./").to_owned())
        .filter(|l| l != ".dockerignore")
        .collect();
    assert!(docker.len() > 3 && docker.len() < FILES.len(), "{docker:?}");
    let matcher = Matcher::from_file_contents(DOCKERIGNORE).expect("patterns compile");
    let kiln: BTreeSet<String> = FILES
        .iter()
        .filter(|f| !matcher.matches(f))
        .map(|f| f.to_string())
        .collect();
    assert_eq!(kiln, docker);
}
