//! The leveled compaction policy: a pure function from a snapshot of the table set to the next
//! compaction task, if any is due. No I/O, no locks; unit-tested on hand-built table sets.
//!
//! - Level 0 (flushed memtables, overlapping) is due when it holds `l0_trigger` tables; its
//!   task takes every level-0 table plus the level-1 tables overlapping their key range.
//! - Level n >= 1 is due when its bytes exceed `level1_bytes * multiplier^(n-1)`; its task takes
//!   the one table whose overlap with level n+1 is the smallest relative to its own size (least
//!   rewriting per byte moved down), plus those overlapping tables.
//! - The most urgent level (largest size/target ratio) goes first; the last level never
//!   compacts further.

/// What the policy needs to know about a table.
#[derive(Debug, Clone)]
pub(crate) struct TableInfo {
    pub(crate) id: u64,
    pub(crate) size: u64,
    pub(crate) smallest: Vec<u8>,
    pub(crate) largest: Vec<u8>,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) l0_trigger: usize,
    pub(crate) level1_bytes: u64,
    pub(crate) multiplier: u64,
    pub(crate) max_levels: usize,
}

/// Merge `upper` (tables of `level`) with `lower` (tables of `level + 1`) into `level + 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Task {
    pub(crate) level: usize,
    pub(crate) upper: Vec<u64>,
    pub(crate) lower: Vec<u64>,
}

impl Policy {
    fn target_bytes(&self, level: usize) -> u64 {
        let mut target = self.level1_bytes.max(1);
        for _ in 1..level {
            target = target.saturating_mul(self.multiplier.max(2));
        }
        target
    }
}

fn overlapping<'a>(
    level: &'a [TableInfo],
    lo: &[u8],
    hi: &[u8],
) -> impl Iterator<Item = &'a TableInfo> {
    level
        .iter()
        .filter(move |t| t.smallest.as_slice() <= hi && t.largest.as_slice() >= lo)
}

/// The next compaction task for `levels` (index = level), or `None` if nothing is due.
pub(crate) fn pick(levels: &[Vec<TableInfo>], policy: &Policy) -> Option<Task> {
    let last = policy.max_levels.min(levels.len()).checked_sub(1)?;
    let mut best: Option<(f64, usize)> = None;
    for (n, tables) in levels.iter().enumerate().take(last) {
        let score = if n == 0 {
            tables.len() as f64 / policy.l0_trigger.max(1) as f64
        } else {
            let bytes: u64 = tables.iter().map(|t| t.size).sum();
            bytes as f64 / policy.target_bytes(n) as f64
        };
        let due = if n == 0 { score >= 1.0 } else { score > 1.0 };
        if due && best.is_none_or(|(s, _)| score > s) {
            best = Some((score, n));
        }
    }
    let (_, level) = best?;
    let below = &levels[level + 1];
    if level == 0 {
        let upper = &levels[0];
        let lo = upper.iter().map(|t| &t.smallest).min()?;
        let hi = upper.iter().map(|t| &t.largest).max()?;
        return Some(Task {
            level,
            upper: upper.iter().map(|t| t.id).collect(),
            lower: overlapping(below, lo, hi).map(|t| t.id).collect(),
        });
    }
    let chosen = levels[level].iter().min_by(|a, b| {
        let ratio = |t: &TableInfo| {
            let over: u64 = overlapping(below, &t.smallest, &t.largest)
                .map(|o| o.size)
                .sum();
            over as f64 / t.size.max(1) as f64
        };
        ratio(a).total_cmp(&ratio(b))
    })?;
    Some(Task {
        level,
        upper: vec![chosen.id],
        lower: overlapping(below, &chosen.smallest, &chosen.largest)
            .map(|t| t.id)
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: u64, size: u64, lo: &str, hi: &str) -> TableInfo {
        TableInfo {
            id,
            size,
            smallest: lo.as_bytes().to_vec(),
            largest: hi.as_bytes().to_vec(),
        }
    }

    const POLICY: Policy = Policy {
        l0_trigger: 2,
        level1_bytes: 100,
        multiplier: 10,
        max_levels: 3,
    };

    #[test]
    fn nothing_due_on_a_small_tree() {
        let levels = vec![vec![t(5, 10, "a", "c")], vec![t(1, 90, "a", "z")], vec![]];
        assert_eq!(pick(&levels, &POLICY), None);
    }

    #[test]
    fn level0_takes_all_of_l0_and_the_overlapping_l1_tables() {
        let levels = vec![
            vec![t(6, 10, "d", "f"), t(5, 10, "b", "c")],
            vec![
                t(1, 10, "a", "a"),
                t(2, 10, "b", "d"),
                t(3, 10, "e", "g"),
                t(4, 10, "h", "i"),
            ],
            vec![],
        ];
        let task = pick(&levels, &POLICY).unwrap();
        assert_eq!(task.level, 0);
        assert_eq!(task.upper, vec![6, 5]);
        assert_eq!(task.lower, vec![2, 3]);
    }

    #[test]
    fn oversized_level_moves_its_cheapest_table_down() {
        let levels = vec![
            vec![],
            vec![t(1, 60, "a", "f"), t(2, 60, "g", "m")],
            vec![t(3, 500, "a", "c"), t(4, 10, "h", "i")],
        ];
        let task = pick(&levels, &POLICY).unwrap();
        assert_eq!(
            task,
            Task {
                level: 1,
                upper: vec![2],
                lower: vec![4]
            }
        );
    }

    #[test]
    fn last_level_never_compacts() {
        let levels = vec![vec![], vec![], vec![t(1, 1 << 40, "a", "z")]];
        assert_eq!(pick(&levels, &POLICY), None);
    }
}
