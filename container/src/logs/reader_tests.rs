use super::super::writer::LogWriter;
use super::*;
use crate::spec::LogSpec;

fn write_lines(writer: &mut LogWriter, range: std::ops::Range<usize>) {
    for i in range {
        writer
            .write(Stream::Stdout, format!("line {i:04}\n").as_bytes())
            .unwrap();
    }
}

fn expected(range: std::ops::Range<usize>) -> String {
    range.map(|i| format!("line {i:04}\n")).collect()
}

fn small_spec(dir: &Path) -> LogSpec {
    LogSpec {
        path: dir.join("0.log"),
        max_size_bytes: 500,
        max_files: 100,
    }
}

#[test]
fn reads_across_rotated_files_in_order_with_tail() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec(dir.path());
    let mut writer = LogWriter::open(&spec).unwrap();
    write_lines(&mut writer, 0..100);
    assert!(rotated(&spec.path, 3).exists());
    let all = LogReader::open(&spec.path, &ReadOptions::default())
        .unwrap()
        .read_available()
        .unwrap();
    assert_eq!(String::from_utf8(all).unwrap(), expected(0..100));
    let opts = ReadOptions {
        tail_lines: Some(15),
        ..Default::default()
    };
    let tail = LogReader::open(&spec.path, &opts)
        .unwrap()
        .read_available()
        .unwrap();
    assert_eq!(String::from_utf8(tail).unwrap(), expected(85..100));
    let none = ReadOptions {
        tail_lines: Some(0),
        ..Default::default()
    };
    let mut reader = LogReader::open(&spec.path, &none).unwrap();
    assert!(reader.read_available().unwrap().is_empty());
    write_lines(&mut writer, 100..101);
    assert_eq!(
        reader.read_available().unwrap(),
        expected(100..101).as_bytes()
    );
}

#[test]
fn follows_new_output_through_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let spec = small_spec(dir.path());
    let mut reader = LogReader::open(&spec.path, &ReadOptions::default()).unwrap();
    assert!(reader.read_available().unwrap().is_empty());
    let mut writer = LogWriter::open(&spec).unwrap();
    let mut got = Vec::new();
    for chunk in 0..10 {
        // Records are 50 bytes, 10 to a file: each chunk crosses one rotation.
        write_lines(&mut writer, chunk * 10..chunk * 10 + 10);
        got.extend(reader.read_available().unwrap());
    }
    assert!(rotated(&spec.path, 5).exists());
    assert_eq!(String::from_utf8(got).unwrap(), expected(0..100));
}

#[test]
fn joins_partial_records_and_prefixes_timestamps_once_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.log");
    fs::write(
        &path,
        "2026-11-27T11:00:00.000000001Z stdout P hel\n\
         2026-11-27T11:00:00.000000002Z stderr F oops\n\
         2026-11-27T11:00:00.000000003Z stdout F lo\n",
    )
    .unwrap();
    let plain = LogReader::open(&path, &ReadOptions::default())
        .unwrap()
        .read_available()
        .unwrap();
    assert_eq!(plain, b"heloops\nlo\n");
    let opts = ReadOptions {
        timestamps: true,
        ..Default::default()
    };
    let stamped = LogReader::open(&path, &opts)
        .unwrap()
        .read_available()
        .unwrap();
    assert_eq!(
        String::from_utf8(stamped).unwrap(),
        "2026-11-27T11:00:00.000000001Z hel\
         2026-11-27T11:00:00.000000002Z oops\nlo\n"
    );
}

#[test]
fn since_and_limit_bytes_filter_output() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.log");
    fs::write(
        &path,
        "2026-11-27T11:00:00Z stdout F old\n\
         2026-11-27T11:00:02Z stdout F new\n\
         2026-11-27T11:00:03Z stdout F newer\n",
    )
    .unwrap();
    let since = DateTime::parse_from_rfc3339("2026-11-27T11:00:01Z")
        .unwrap()
        .with_timezone(&Utc);
    let opts = ReadOptions {
        since: Some(since),
        limit_bytes: Some(6),
        ..Default::default()
    };
    let mut reader = LogReader::open(&path, &opts).unwrap();
    assert_eq!(reader.read_available().unwrap(), b"new\nne");
    assert!(reader.limit_reached());
    assert!(reader.read_available().unwrap().is_empty());
}

#[test]
fn a_half_written_last_line_waits_for_its_end() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("0.log");
    fs::write(&path, "2026-11-27T11:00:00Z stdout F a\n2026-11-27T11:0").unwrap();
    let mut reader = LogReader::open(&path, &ReadOptions::default()).unwrap();
    assert_eq!(reader.read_available().unwrap(), b"a\n");
    use std::io::Write;
    let mut file = fs::OpenOptions::new().append(true).open(&path).unwrap();
    file.write_all(b"0:01Z stdout F b\n").unwrap();
    assert_eq!(reader.read_available().unwrap(), b"b\n");
}
