//! Work spread over the machine's cores, in order: what a batch does per CSR (checking its
//! signature, signing its certificate) is independent and pure.

/// Applies `f` to every item on up to `available_parallelism` threads (the calling thread
/// included), returning the results in the order of the items. Fewer than `min` items are
/// done on the calling thread alone. A panic in `f` is resumed here.
pub fn map<T: Sync, R: Send>(items: &[T], min: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    if items.len() < min.max(2) || workers == 1 {
        return items.iter().map(&f).collect();
    }
    let mut parts = items.chunks(items.len().div_ceil(workers));
    let first = parts.next().unwrap_or_default();
    std::thread::scope(|s| {
        let handles: Vec<_> = parts
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        let mut all: Vec<R> = first.iter().map(&f).collect();
        for h in handles {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn keeps_the_order() {
        let items: Vec<u32> = (0..1000).collect();
        assert_eq!(
            super::map(&items, 10, |x| x * 2),
            items.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
        assert_eq!(super::map(&items[..3], 10, |x| x + 1), vec![1, 2, 3]);
    }
}
