//! Go's `text/tabwriter`, which kubectl prints its descriptions through
//! (and, with min width 6 and padding 3, its tables): cells end with `\t`, a column is as wide as its widest cell plus
//! padding within a block of consecutive lines that have that cell, and the
//! text after a line's last tab is not aligned.

/// Collects text, then lays it out on [`TabWriter::finish`].
#[derive(Debug)]
pub struct TabWriter {
    min_width: usize,
    padding: usize,
    text: String,
}

/// kubectl describe's writer (min width 0, padding 2).
pub fn for_descriptions() -> TabWriter {
    TabWriter::new(0, 2)
}

impl TabWriter {
    pub fn new(min_width: usize, padding: usize) -> TabWriter {
        TabWriter {
            min_width,
            padding,
            text: String::new(),
        }
    }

    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Lays the text out; a final line without `\n` is kept without one.
    pub fn finish(self) -> String {
        let trailing_newline = self.text.ends_with('\n');
        let body = self.text.strip_suffix('\n').unwrap_or(&self.text);
        if body.is_empty() && !trailing_newline {
            return String::new();
        }
        let lines: Vec<Vec<&str>> = body.split('\n').map(|l| l.split('\t').collect()).collect();
        let mut out = String::new();
        let mut widths = Vec::new();
        self.format(&lines, 0, lines.len(), &mut widths, &mut out);
        if !trailing_newline {
            out.pop();
        }
        out
    }

    /// Go's recursive block formatter: `widths` holds the widths of the
    /// columns left of the one being laid out.
    fn format(
        &self,
        lines: &[Vec<&str>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A block of lines that all have a cell in this column starts here.
            write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                let w = lines[this][column].chars().count() + self.padding;
                width = width.max(w);
                this += 1;
            }
            widths.push(width);
            self.format(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        write_lines(lines, line0, line1, widths, out);
    }
}

fn write_lines(lines: &[Vec<&str>], from: usize, to: usize, widths: &[usize], out: &mut String) {
    for line in &lines[from..to] {
        for (j, cell) in line.iter().enumerate() {
            out.push_str(cell);
            if j < widths.len() && j + 1 < line.len() {
                let pad = widths[j].saturating_sub(cell.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_look_like_kubectl_get() {
        let mut w = TabWriter::new(6, 3);
        w.push("NAME\tREADY\tUP-TO-DATE\tAVAILABLE\tAGE\n");
        w.push("nginx-deployment\t2/2\t2\t2\t10s\n");
        assert_eq!(
            w.finish(),
            "NAME               READY   UP-TO-DATE   AVAILABLE   AGE\n\
             nginx-deployment   2/2     2            2           10s\n"
        );
    }

    #[test]
    fn short_columns_get_the_minimum_width() {
        let mut w = TabWriter::new(6, 3);
        w.push("A\tB\n1\t2\n");
        assert_eq!(w.finish(), "A     B\n1     2\n");
    }

    #[test]
    fn blocks_end_at_lines_without_that_cell() {
        let mut w = for_descriptions();
        w.push("Name:\tx\nNamespace:\tdefault\nPod Template:\n  Labels:\tapp=nginx\n");
        assert_eq!(
            w.finish(),
            "Name:       x\nNamespace:  default\nPod Template:\n  Labels:  app=nginx\n"
        );
    }

    #[test]
    fn nested_columns_align_within_their_block() {
        let mut w = for_descriptions();
        w.push("Conditions:\n  Type\tStatus\tReason\n  ----\t------\t------\n  Available\tTrue\tMinimumReplicasAvailable\n");
        assert_eq!(
            w.finish(),
            "Conditions:\n  Type       Status  Reason\n  ----       ------  ------\n  Available  True    MinimumReplicasAvailable\n"
        );
    }
}
