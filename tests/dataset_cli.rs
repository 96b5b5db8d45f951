//! End-to-end tests of `kennel rollout` and `kennel dataset`: datasets that do not depend on
//! how the work was split, survive `kill -9`, name what is wrong with them, and that Python
//! reads with `safetensors` and `numpy`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use agent::dataset::{Dataset, Manifest, RecordedEpisode};
use common::{assert_ok, kennel, manifest_dir, stderr, stdout};

/// `reach` episodes are short: a dataset of a few dozen is quick to write.
const WORLD: &str = "reach";

fn rollout(dir: &Path, out: &str, episodes: u64, extra: &[&str]) -> std::process::Output {
    let episodes = episodes.to_string();
    let mut args = vec![
        "rollout",
        "--world",
        WORLD,
        "--episodes",
        &episodes,
        "--out",
        out,
        "--seed",
        "11",
        "--quiet",
    ];
    args.extend_from_slice(extra);
    kennel(&args, dir)
}

fn episodes(dir: &Path) -> Vec<RecordedEpisode> {
    let dataset = Dataset::open(dir).expect("open dataset");
    dataset
        .episodes()
        .collect::<Result<_, _>>()
        .expect("read episodes")
}

/// Every file of a folder, by name, with its size and sha256.
fn files(dir: &Path) -> Vec<(String, usize, String)> {
    let mut files: Vec<(String, usize, String)> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| {
            let e = e.expect("entry");
            let bytes = std::fs::read(e.path()).expect("read");
            (
                e.file_name().to_string_lossy().into_owned(),
                bytes.len(),
                agent::dataset::sha256_hex(&bytes),
            )
        })
        .collect();
    files.sort();
    files
}

#[test]
fn episodes_do_not_depend_on_envs_threads_or_jobs_and_three_jobs_merge_into_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    assert_ok(&rollout(
        root,
        "single",
        24,
        &["--envs", "3", "--threads", "1", "--shard-mb", "0.5"],
    ));
    assert_ok(&rollout(
        root,
        "wide",
        24,
        &["--envs", "7", "--threads", "2", "--shard-mb", "0.5"],
    ));
    // Same shards, byte for byte, whatever the parallelism.
    assert_eq!(files(&root.join("single")), files(&root.join("wide")));

    // Three jobs as three processes, each told its share the way its scheduler tells it.
    let job = |out: &str, args: &[&str], env: &[(&str, &str)]| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kennel"));
        command
            .args([
                "rollout",
                "--world",
                WORLD,
                "--episodes",
                "24",
                "--seed",
                "11",
                "--quiet",
            ])
            .args(["--shard-mb", "0.5", "--out", out])
            .args(args)
            .current_dir(root)
            .env_remove("SLURM_ARRAY_TASK_ID")
            .env_remove("JOB_COMPLETION_INDEX");
        for (k, v) in env {
            command.env(k, v);
        }
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        command.spawn().expect("spawn job")
    };
    let jobs = [
        job("part0", &["--shard", "0/3"], &[]),
        job(
            "part1",
            &[],
            &[
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
        ),
        job(
            "part2",
            &["--shard-count", "3"],
            &[("JOB_COMPLETION_INDEX", "2")],
        ),
    ];
    for child in jobs {
        let output = child.wait_with_output().expect("job");
        assert_ok(&output);
        assert!(stderr(&output).contains("job "), "{}", stderr(&output));
    }
    let part1 = Manifest::read(&root.join("part1")).expect("part1");
    assert_eq!((part1.episodes.first, part1.episodes.end), (8, 16));
    assert_eq!(part1.shard_of_job.as_deref(), Some("1/3"));

    let merged = kennel(
        &[
            "dataset", "merge", "part2", "part0", "part1", "--out", "merged",
        ],
        root,
    );
    assert_ok(&merged);
    let single = episodes(&root.join("single"));
    let joined = episodes(&root.join("merged"));
    assert_eq!(single.len(), 24);
    assert_eq!(joined.len(), single.len());
    for (a, b) in single.iter().zip(&joined) {
        assert_eq!(a.index, b.index);
        assert!(
            a == b,
            "episode {} differs between the single job and the merge",
            a.index
        );
    }
    let verify = kennel(&["dataset", "verify", "merged"], root);
    assert_ok(&verify);
    assert!(
        stdout(&verify).contains("24 episodes"),
        "{}",
        stdout(&verify)
    );
    let info = kennel(&["dataset", "info", "merged", "--json"], root);
    assert_ok(&info);
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).expect("json");
    assert_eq!(info["written"], 24);
    assert_eq!(info["complete"], true);

    // Merging refuses jobs of another dataset, and gaps.
    assert_ok(&kennel(
        &[
            "rollout",
            "--world",
            WORLD,
            "--episodes",
            "24",
            "--out",
            "other",
            "--seed",
            "12",
            "--shard",
            "1/3",
            "--quiet",
        ],
        root,
    ));
    let mixed = kennel(&["dataset", "merge", "part0", "other", "--out", "m2"], root);
    assert!(!mixed.status.success());
    assert!(stderr(&mixed).contains("--seed"), "{}", stderr(&mixed));
    let gap = kennel(&["dataset", "merge", "part0", "part2", "--out", "m3"], root);
    assert!(!gap.status.success());
    assert!(
        stderr(&gap).contains("episodes 8..16 are in none of the inputs"),
        "{}",
        stderr(&gap)
    );
}

/// Waits until the manifest of `dir` lists at least `shards` shards.
fn wait_for_shards(dir: &Path, shards: usize, child: &mut std::process::Child) {
    let started = Instant::now();
    loop {
        if let Ok(m) = Manifest::read(dir)
            && m.shards.len() >= shards
        {
            return;
        }
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the job ended before it wrote {shards} shards"
        );
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn kill_9_then_resume_gives_the_uninterrupted_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let args = [
        "rollout",
        "--world",
        "two_rooms",
        "--episodes",
        "48",
        "--seed",
        "5",
        "--shard-mb",
        "3",
        "--envs",
        "4",
        "--quiet",
        "--out",
    ];
    assert_ok(&kennel(&[&args[..], &["whole"]].concat(), root));

    // Killed twice at different points, resumed each time.
    let start = |resume: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_kennel"));
        command.args(args).arg("killed").current_dir(root);
        if resume {
            command.arg("--resume");
        }
        command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn")
    };
    let killed = root.join("killed");
    for (resume, shards) in [(false, 3), (true, 9)] {
        let mut child = start(resume);
        wait_for_shards(&killed, shards, &mut child);
        // A second writer on the folder is refused while the first runs.
        let second = kennel(&[&args[..], &["killed", "--resume"]].concat(), root);
        let first_ended = child.try_wait().expect("poll").is_some();
        assert!(
            first_ended || stderr(&second).contains("another kennel rollout is writing"),
            "{}",
            stderr(&second)
        );
        child.kill().expect("kill -9"); // SIGKILL on Unix: no handler runs.
        child.wait().expect("reap");
    }
    let before = Manifest::read(&killed).expect("manifest after kill");
    assert!(!before.complete && before.shards.len() >= 9);
    // What a kill between a shard's rename and the manifest's rewrite leaves, and a temporary.
    std::fs::write(killed.join("shard-00000040-00000041.safetensors"), b"stray").expect("stray");
    std::fs::write(
        killed.join("shard-00000041-00000042.safetensors.tmp"),
        b"half",
    )
    .expect("tmp");
    // Without --resume the folder is refused, untouched.
    let refused = kennel(&[&args[..], &["killed"]].concat(), root);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("--resume"),
        "{}",
        stderr(&refused)
    );
    assert_ok(&kennel(
        &[&args[..], &["killed", "--resume"]].concat(),
        root,
    ));
    assert_eq!(
        files(&root.join("whole")),
        files(&killed),
        "resumed ≠ uninterrupted"
    );

    // A damaged shard: verify names it; resume regenerates it, identical.
    let victim = before.shards[1].file.clone();
    let path = killed.join(&victim);
    let mut bytes = std::fs::read(&path).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).expect("corrupt");
    let bad = kennel(&["dataset", "verify", "killed"], root);
    assert!(!bad.status.success());
    assert!(
        stderr(&bad).contains(&victim) && stderr(&bad).contains("sha256"),
        "{}",
        stderr(&bad)
    );
    std::fs::write(&path, &bytes[..middle]).expect("truncate");
    let bad = kennel(&["dataset", "verify", "killed"], root);
    assert!(
        stderr(&bad).contains(&victim) && stderr(&bad).contains("truncated"),
        "{}",
        stderr(&bad)
    );
    let resumed = kennel(&[&args[..], &["killed", "--resume"]].concat(), root);
    assert_ok(&resumed);
    assert!(
        stderr(&resumed).contains(&format!("regenerated {victim}")),
        "{}",
        stderr(&resumed)
    );
    assert_eq!(files(&root.join("whole")), files(&killed));

    // A missing shard too.
    std::fs::remove_file(&path).expect("remove");
    let bad = kennel(&["dataset", "verify", "killed"], root);
    assert!(stderr(&bad).contains(&victim), "{}", stderr(&bad));
    assert_ok(&kennel(
        &[&args[..], &["killed", "--resume"]].concat(),
        root,
    ));
    assert_eq!(files(&root.join("whole")), files(&killed));

    // Complete: resuming again does nothing.
    let again = kennel(&[&args[..], &["killed", "--resume"]].concat(), root);
    assert_ok(&again);
    assert!(
        stdout(&again).contains("already complete"),
        "{}",
        stdout(&again)
    );
}

#[test]
fn bad_input_gets_one_clear_error_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    for (spec, says) in [
        ("3/2", "below the job count"),
        ("1/0", "at least 1"),
        ("x", "expected I/N"),
    ] {
        let output = rollout(root, "d", 4, &["--shard", spec]);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains(says),
            "{spec}: {}",
            stderr(&output)
        );
    }
    let output = kennel(
        &[
            "rollout",
            "--episodes",
            "4",
            "--out",
            "k",
            "--shard-count",
            "2",
        ],
        root,
    );
    assert!(
        stderr(&output).contains("JOB_COMPLETION_INDEX"),
        "{}",
        stderr(&output)
    );
    let output = rollout(root, "p", 4, &["--policy", "planner"]);
    assert!(
        stderr(&output).contains("planner:CHECKPOINT"),
        "{}",
        stderr(&output)
    );
    let output = rollout(root, "p", 4, &["--policy", "planner:nowhere"]);
    assert!(stderr(&output).contains("nowhere"), "{}", stderr(&output));

    assert_ok(&rollout(root, "d", 6, &["--shard-mb", "0.3"]));
    let before = files(&root.join("d"));
    // Resuming with another seed, world or split is refused, naming what differs.
    for (extra, says) in [
        (
            vec!["--resume", "--seed", "3"],
            "--seed 11 where this command has 3",
        ),
        (vec!["--resume", "--shard", "0/2"], "--episodes"),
    ] {
        let output = kennel(
            &[
                &[
                    "rollout",
                    "--world",
                    WORLD,
                    "--episodes",
                    "6",
                    "--out",
                    "d",
                    "--shard-mb",
                    "0.3",
                ][..],
                &extra,
            ]
            .concat(),
            root,
        );
        assert!(!output.status.success());
        assert!(stderr(&output).contains(says), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("manifest.json"),
            "{}",
            stderr(&output)
        );
    }
    let output = kennel(
        &[
            "rollout",
            "--world",
            "two_rooms",
            "--episodes",
            "6",
            "--out",
            "d",
            "--seed",
            "11",
            "--shard-mb",
            "0.3",
            "--resume",
        ],
        root,
    );
    assert!(
        stderr(&output).contains("world `reach`"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        files(&root.join("d")),
        before,
        "a refused resume changed the folder"
    );

    // A manifest of another format version.
    let manifest = root.join("d/manifest.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest");
    std::fs::write(
        &manifest,
        text.replace("\"format_version\": 1", "\"format_version\": 99"),
    )
    .expect("write");
    for args in [vec!["dataset", "verify", "d"], vec!["dataset", "info", "d"]] {
        let output = kennel(&args, root);
        assert!(!output.status.success());
        assert!(
            stderr(&output).contains("format version 99")
                && stderr(&output).contains("manifest.json"),
            "{}",
            stderr(&output)
        );
    }
    let output = kennel(
        &[
            "train", "--world", WORLD, "--data", "d", "--steps", "1", "--out", "t",
        ],
        root,
    );
    assert!(
        stderr(&output).contains("format version 99"),
        "{}",
        stderr(&output)
    );
    std::fs::write(&manifest, &text).expect("restore");

    // A manifest naming a shard outside its folder is refused before anything is opened.
    let evil = text.replacen("\"file\": \"shard-", "\"file\": \"../shard-", 1);
    std::fs::write(&manifest, evil).expect("write");
    let output = kennel(&["dataset", "verify", "d"], root);
    assert!(
        stderr(&output).contains("lists a shard named \"../shard-"),
        "{}",
        stderr(&output)
    );
    std::fs::write(&manifest, &text).expect("restore");

    // A folder holding other things is not written into.
    std::fs::create_dir_all(root.join("notes")).expect("mkdir");
    std::fs::write(root.join("notes/todo.txt"), b"x").expect("file");
    let output = rollout(root, "notes", 2, &[]);
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("holds other files (todo.txt"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_dir(root.join("notes")).expect("list").count(),
        1,
        "the refused rollout left something in notes/"
    );

    // The old postcard folders are named as such.
    std::fs::create_dir_all(root.join("old")).expect("mkdir");
    std::fs::write(root.join("old/episodes-00000.bin"), b"x").expect("old");
    let output = kennel(
        &[
            "train", "--world", WORLD, "--data", "old", "--steps", "1", "--out", "t",
        ],
        root,
    );
    assert!(
        stderr(&output).contains("old postcard format"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn train_streams_a_dataset() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    assert_ok(&rollout(root, "data", 8, &["--shard-mb", "1"]));
    let train = [
        "train", "--world", WORLD, "--data", "data", "--steps", "2", "--batch", "4", "--out",
        "offline",
    ];
    let output = kennel(&train, root);
    assert_ok(&output);
    assert!(
        stderr(&output).contains("streaming 8 episodes"),
        "{}",
        stderr(&output)
    );
    assert!(
        root.join("offline/checkpoints/step-00000002/model.bpk")
            .is_file()
    );
    let wrong = kennel(
        &[
            "train",
            "--world",
            "two_rooms",
            "--data",
            "data",
            "--steps",
            "1",
            "--out",
            "x",
        ],
        root,
    );
    assert!(!wrong.status.success());
    assert!(
        stderr(&wrong).contains("pass --world reach"),
        "{}",
        stderr(&wrong)
    );
}

/// The README's Python snippet, run as written against a dataset this test writes, with the
/// `safetensors` and `numpy` of PyPI (`.ci/run` puts them in a virtual environment and sets
/// `KENNEL_PYTHON`; set `KENNEL_REQUIRE_PYTHON=1` to fail rather than skip without them).
#[test]
fn the_readme_python_snippet_reads_a_shard() {
    let python = std::env::var("KENNEL_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let has_modules = Command::new(&python)
        .args(["-c", "import safetensors, numpy"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_modules {
        assert!(
            std::env::var_os("KENNEL_REQUIRE_PYTHON").is_none(),
            "{python} cannot import safetensors and numpy (KENNEL_REQUIRE_PYTHON is set)"
        );
        eprintln!(
            "skipped: {python} cannot import safetensors and numpy (`bash .ci/run` installs them)"
        );
        return;
    }
    let readme = std::fs::read_to_string(manifest_dir().join("README.md")).expect("README");
    let snippet = readme
        .split("```python\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a ```python block in the README");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let data: PathBuf = ["data", "two_rooms"].iter().collect();
    assert_ok(&kennel(
        &[
            "rollout",
            "--world",
            "two_rooms",
            "--episodes",
            "3",
            "--out",
            data.to_str().expect("path"),
            "--quiet",
        ],
        root,
    ));
    let output = Command::new(&python)
        .args(["-c", snippet])
        .current_dir(root)
        .output()
        .expect("python");
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{}",
        out,
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{out}");
    let m = Manifest::read(&root.join(&data)).expect("manifest");
    let rows = m.shards[0].rows;
    assert!(out.contains(&format!("({rows}, 64, 64, 3) uint8")), "{out}");
    assert!(out.contains(&format!("({rows}, 2) float32")), "{out}");
}

/// `deploy/slurm/rollout.sbatch` as Slurm would run it: three array tasks (the environment
/// Slurm sets), an `sbatch` on PATH that records the merge step it is asked to submit, then
/// that merge step; the result equals a single job's dataset.
#[test]
fn the_slurm_script_records_shares_and_merges_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path();
    let bin = root.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let stub = bin.join("sbatch");
    std::fs::write(
        &stub,
        "#!/bin/bash\nfor a in \"$@\"; do case \"$a\" in --wrap=*) printf '%s' \"${a#--wrap=}\" >> \"$STUB_OUT\";; esac; done\necho \"Submitted batch job 43\"\n",
    )
    .expect("stub");
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let script = manifest_dir().join("deploy/slurm/rollout.sbatch");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let data = root.join("data");
    for task in 0..3 {
        let output = Command::new("bash")
            .arg(&script)
            .current_dir(root)
            .env("PATH", &path)
            .env("KENNEL", env!("CARGO_BIN_EXE_kennel"))
            .env("STUB_OUT", root.join("merge.sh"))
            .envs([
                ("WORLD", WORLD),
                ("EPISODES", "9"),
                ("SEED", "11"),
                ("SHARD_MB", "0.5"),
            ])
            .env("DATA", &data)
            .envs([("SLURM_ARRAY_JOB_ID", "42"), ("SLURM_ARRAY_TASK_MIN", "0")])
            .envs([
                ("SLURM_ARRAY_TASK_COUNT", "3"),
                ("SLURM_CPUS_PER_TASK", "1"),
            ])
            .env("SLURM_ARRAY_TASK_ID", task.to_string())
            .output()
            .expect("bash");
        assert_ok(&output);
    }
    // Submitted once, by the first task.
    let merge = std::fs::read_to_string(root.join("merge.sh")).expect("merge step submitted");
    assert_eq!(merge.matches("dataset merge").count(), 1, "{merge}");
    let output = Command::new("bash")
        .args(["-c", &merge])
        .current_dir(root)
        .output()
        .expect("merge");
    assert_ok(&output);
    assert!(stdout(&output).contains("ok: "), "{}", stdout(&output));
    assert_ok(&rollout(root, "single", 9, &["--shard-mb", "0.5"]));
    assert_eq!(
        episodes(&root.join("single")),
        episodes(&data.join("merged"))
    );
}
