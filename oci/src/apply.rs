//! Applying verified layers on two worker threads while the caller's thread downloads the next.
//!
//! Decompression is the slowest step of a verification (≈ 0.25 s of one core per 100 MB of a
//! gzip layer here) and SHA-256 of the files the next (≈ 0.07 s), so they run side by side:
//! - the *inflater* thread reads each verified spool file, in order, and decompresses it into
//!   fixed-size chunks;
//! - the *parser* thread reads the tar stream out of those chunks, hashes every file and builds
//!   the tree ([`TreeBuilder::apply_tar`]);
//! - the caller's thread downloads and verifies the blobs and hands a spool file over only once
//!   its digest is confirmed (nothing downstream ever sees an unverified byte). While it waits it
//!   polls the cancel closure; the workers never call it. They watch a [`StopFlag`], which the
//!   caller's thread raises — on cancel, deadline, error, or while unwinding — before joining
//!   them, so no worker outlives the call.
//!
//! Memory stays bounded: [`CHUNKS`] chunks of [`CHUNK`] bytes circulate between the two workers
//! (recycled, never reallocated). At most two spool files exist at once: the one being applied
//! and the one being downloaded (or waiting).

use std::fs::File;
use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use tokio::sync::{mpsc as jobs, oneshot};

use crate::error::OciError;
use crate::interrupt::{Checkpoint, Interrupt, StopFlag, TICK};
use crate::layer::{Limits, TreeBuilder, decoder};
use crate::manifest::Compression;
use crate::threads;
use crate::unpack::Disk;

/// Size of one chunk of uncompressed tar stream: large reads keep the decompressor in its fast
/// loop (8 KiB reads cost it ~20% more time), small enough to stay in cache between the threads.
const CHUNK: usize = 256 * 1024;
/// Chunks in circulation: how far the inflater may run ahead of the parser.
const CHUNKS: usize = 8;

/// A verified layer blob to apply.
pub(crate) struct Job {
    /// The spool file, rewound, whose digest was confirmed.
    pub spool: File,
    /// How the blob is compressed.
    pub compression: Compression,
    /// The layer's name in errors (its digest).
    pub layer: String,
}

/// What the inflater sends the parser: for each layer `Start`, `Data`…, then `End` or `Failed`.
enum Msg {
    Start(String),
    Data(Vec<u8>),
    End,
    Failed(io::Error),
}

/// The caller's side of the two workers.
pub(crate) struct Applier {
    /// Layers to apply, in order; dropping it (and `slot`) tells the inflater no more will come.
    jobs: Option<jobs::Sender<Job>>,
    /// Room reserved for the next layer (see [`Applier::reserve`]).
    slot: Option<jobs::OwnedPermit<Job>>,
    /// The parser's result: the tree, or the first error.
    done: Option<oneshot::Receiver<Result<TreeBuilder, OciError>>>,
    /// The result, if it came early.
    ready: Option<TreeBuilder>,
    stop: StopFlag,
    /// Layers whose archive the parser has read to its end.
    finished: Arc<AtomicUsize>,
    /// Descriptions of the submitted layers, for "cancelled while …".
    submitted: Vec<String>,
    inflater: Option<JoinHandle<()>>,
    parser: Option<JoinHandle<()>>,
}

impl Applier {
    /// Starts both workers with an empty tree (written into `disk` too, when given).
    pub(crate) fn start(limits: &Limits, disk: Option<Disk>) -> Result<Self, OciError> {
        let (jobs_tx, jobs_rx) = jobs::channel(1);
        // Data messages are bounded by the chunks in circulation (the inflater waits for a free
        // one); the two extra places take a layer's `End` and the next layer's `Start`.
        let (chunk_tx, chunk_rx) = mpsc::sync_channel(CHUNKS + 2);
        let (free_tx, free_rx) = mpsc::channel();
        let (done_tx, done_rx) = oneshot::channel();
        let stop = StopFlag::default();
        let finished = Arc::new(AtomicUsize::new(0));
        let mut me = Applier {
            jobs: Some(jobs_tx),
            slot: None,
            done: Some(done_rx),
            ready: None,
            stop: stop.clone(),
            finished: finished.clone(),
            submitted: Vec::new(),
            inflater: None,
            parser: None,
        };
        let spawn_error = |e| OciError::io("starting a layer worker thread", e);
        let (s, f) = (stop.clone(), finished.clone());
        me.inflater = Some(
            threads::spawn("pgext-oci-inflate", move || inflater(jobs_rx, chunk_tx, free_rx, s, f))
                .map_err(spawn_error)?,
        );
        let tree = TreeBuilder::new(limits).with_disk(disk);
        // On failure `me` is dropped here, which stops and joins the inflater.
        me.parser = Some(
            threads::spawn("pgext-oci-tar", move || {
                let mut tree = tree;
                let res = parse_all(&mut tree, &chunk_rx, &free_tx, &stop, &finished);
                let _ = done_tx.send(res.map(|()| tree));
            })
            .map_err(spawn_error)?,
        );
        Ok(me)
    }

    /// Waits (cancellably) until the next layer can be queued, so that it is downloaded only when
    /// the one before it has started to apply: at most two spool files exist at once. Fails
    /// early with the error of a layer that could not be applied.
    pub(crate) async fn reserve(&mut self, intr: &Interrupt<'_>) -> Result<(), OciError> {
        if let Some(e) = self.poll_failure() {
            return Err(e);
        }
        if self.slot.is_some() {
            return Ok(());
        }
        let Some(jobs) = self.jobs.clone() else {
            return Err(closed());
        };
        match intr.run(async { Ok(jobs.reserve_owned().await) }).await? {
            Ok(slot) => {
                self.slot = Some(slot);
                Ok(())
            }
            // The inflater only ends early when the parser did: its error is the one to report.
            Err(_) => Err(self.outcome(intr).await.err().unwrap_or_else(closed)),
        }
    }

    /// Queues a verified layer (`what` describes it in messages).
    pub(crate) async fn submit(&mut self, job: Job, what: String, intr: &Interrupt<'_>) -> Result<(), OciError> {
        self.reserve(intr).await?;
        let slot = self.slot.take().ok_or_else(closed)?;
        slot.send(job);
        self.submitted.push(what);
        Ok(())
    }

    /// The error to report when getting a layer failed with `e`: an earlier layer's application
    /// error comes first, as if layers were applied one after the other. Cancel and timeouts are
    /// reported at once.
    pub(crate) async fn first_error(mut self, e: OciError, intr: &Interrupt<'_>) -> OciError {
        if matches!(e, OciError::Cancelled { .. } | OciError::Timeout { .. }) {
            return e;
        }
        self.slot = None;
        self.jobs = None;
        match self.outcome(intr).await {
            Ok(_) => e,
            Err(earlier) => earlier,
        }
    }

    /// Waits (cancellably) until every submitted layer is applied; returns the tree.
    pub(crate) async fn finish(mut self, intr: &Interrupt<'_>) -> Result<TreeBuilder, OciError> {
        // No more layers: the inflater ends after the last one, then the parser.
        self.slot = None;
        self.jobs = None;
        let out = self.outcome(intr).await;
        for handle in [self.inflater.take(), self.parser.take()].into_iter().flatten() {
            // A worker's panic is a bug; it unwinds on this thread as it would have without threads.
            if let Err(panic) = handle.join() {
                std::panic::resume_unwind(panic);
            }
        }
        out
    }

    fn poll_failure(&mut self) -> Option<OciError> {
        match self.done.as_mut()?.try_recv() {
            Ok(Err(e)) => {
                self.done = None;
                Some(e)
            }
            Ok(Ok(tree)) => {
                self.done = None;
                self.ready = Some(tree);
                None
            }
            Err(_) => None,
        }
    }

    /// The parser's result, waiting for it while polling cancel and naming the layer in progress.
    async fn outcome(&mut self, intr: &Interrupt<'_>) -> Result<TreeBuilder, OciError> {
        if let Some(tree) = self.ready.take() {
            return Ok(tree);
        }
        let Some(mut done) = self.done.take() else {
            return Err(closed());
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut named = usize::MAX;
        loop {
            let k = self.finished.load(Ordering::Relaxed);
            if k != named
                && let Some(what) = self.submitted.get(k).or(self.submitted.last())
            {
                intr.set_phase(format!("applying {what}"));
                named = k;
            }
            tokio::select! {
                biased;
                res = &mut done => return res.unwrap_or_else(|_| Err(closed())),
                _ = tick.tick() => intr.check()?,
            }
        }
    }
}

impl Drop for Applier {
    fn drop(&mut self) {
        self.stop.raise();
        self.slot = None;
        self.jobs = None;
        for handle in [self.inflater.take(), self.parser.take()].into_iter().flatten() {
            // Both see the flag within one chunk. A panic here is lost: an error is on its way.
            let _ = handle.join();
        }
    }
}

/// A worker ended without a result: only after a panic, which `finish` re-raises.
fn closed() -> OciError {
    OciError::io(
        "applying the layers",
        io::Error::other("a layer worker thread ended early"),
    )
}

/// Reads into `buf` until it is full or the stream ends; an error after some bytes comes with
/// them, so the parser sees every good byte before it (as a direct reader would).
fn fill(r: &mut dyn Read, buf: &mut [u8]) -> (usize, Option<io::Error>) {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (n, Some(e)),
        }
    }
    (n, None)
}

/// The inflater: decompresses each job's spool into chunks, in job order.
fn inflater(
    mut jobs: jobs::Receiver<Job>,
    out: SyncSender<Msg>,
    free: Receiver<Vec<u8>>,
    stop: StopFlag,
    finished: Arc<AtomicUsize>,
) {
    let mut unallocated = CHUNKS;
    let mut spare: Option<Vec<u8>> = None;
    let mut index = 0;
    // Ends when the caller sends no more jobs (or, below, when the parser is gone or told to stop).
    while let Some(job) = jobs.blocking_recv() {
        if out.send(Msg::Start(job.layer)).is_err() {
            return;
        }
        let end = match decoder(job.spool, job.compression) {
            Err(e) => Msg::Failed(e),
            Ok(mut tar) => loop {
                if stop.raised() {
                    return;
                }
                // The parser read this layer's archive to its end; what follows is not needed.
                if finished.load(Ordering::Acquire) > index {
                    break Msg::End;
                }
                let mut buf = match spare.take().map_or_else(|| free.try_recv().ok(), Some) {
                    Some(b) => b,
                    None if unallocated > 0 => {
                        unallocated -= 1;
                        vec![0u8; CHUNK]
                    }
                    None => match free.recv() {
                        Ok(b) => b,
                        Err(_) => return,
                    },
                };
                buf.resize(CHUNK, 0);
                let (n, err) = fill(&mut tar, &mut buf);
                if n == 0 {
                    spare = Some(buf);
                } else {
                    buf.truncate(n);
                    if out.send(Msg::Data(buf)).is_err() {
                        return;
                    }
                }
                match err {
                    Some(e) => break Msg::Failed(e),
                    None if n == 0 => break Msg::End,
                    None => {}
                }
            },
        };
        if out.send(end).is_err() {
            return;
        }
        index += 1;
    }
}

/// The parser: applies each layer's tar stream, in order, to `tree`.
fn parse_all(
    tree: &mut TreeBuilder,
    chunks: &Receiver<Msg>,
    free: &Sender<Vec<u8>>,
    stop: &StopFlag,
    finished: &AtomicUsize,
) -> Result<(), OciError> {
    loop {
        let layer = match chunks.recv() {
            Ok(Msg::Start(layer)) => layer,
            // The inflater sends nothing else between layers.
            Ok(_) => return Err(closed()),
            // The inflater is done: every job applied, unless it was told to stop.
            Err(_) => return stop.progress(0),
        };
        let mut reader = ChunkReader {
            chunks,
            free,
            cur: Vec::new(),
            pos: 0,
            ended: false,
        };
        tree.apply_tar(&mut reader, &layer, stop)?;
        finished.fetch_add(1, Ordering::Release);
        // Skip what follows the archive's end, up to the layer's `End`. A decompression error
        // out there is ignored, as it was never read before either.
        while !reader.ended {
            let _ = reader.next_chunk();
        }
    }
}

/// One layer's uncompressed tar stream, read out of the inflater's chunks.
struct ChunkReader<'a> {
    chunks: &'a Receiver<Msg>,
    free: &'a Sender<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
    /// `End` or `Failed` was received: the layer's stream is over.
    ended: bool,
}

impl ChunkReader<'_> {
    fn next_chunk(&mut self) -> io::Result<()> {
        // Hand the used chunk back before waiting: the inflater may be waiting for it.
        self.recycle();
        match self.chunks.recv() {
            Ok(Msg::Data(b)) => self.cur = b,
            Ok(Msg::End) => self.ended = true,
            Ok(Msg::Failed(e)) => {
                self.ended = true;
                return Err(e);
            }
            Ok(Msg::Start(_)) | Err(_) => {
                self.ended = true;
                return Err(io::Error::other("the decompressing thread stopped"));
            }
        }
        Ok(())
    }

    fn recycle(&mut self) {
        let used = std::mem::take(&mut self.cur);
        self.pos = 0;
        if used.capacity() > 0 {
            let _ = self.free.send(used);
        }
    }
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.cur.len() {
            if self.ended {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let rest = self.cur.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}

impl Drop for ChunkReader<'_> {
    fn drop(&mut self) {
        self.recycle();
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::cell::RefCell;
    use std::io::{Seek, Write};
    use std::time::{Duration, Instant};

    use super::*;
    use crate::{EntryKind, ErrorCode, TreeEntry};

    /// Applies `layers` on the workers, each spooled to a temporary file first, polling `cancel`.
    pub(crate) fn apply_on_workers(
        layers: &[(&[u8], Compression)],
        limits: &Limits,
        cancel: &dyn Fn() -> bool,
    ) -> Result<Vec<TreeEntry>, OciError> {
        let intr = Interrupt::new(cancel, None);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let mut applier = Applier::start(limits, None)?;
            for (i, (blob, compression)) in layers.iter().enumerate() {
                let mut spool = tempfile::tempfile().expect("spool");
                spool.write_all(blob).expect("write");
                spool.rewind().expect("rewind");
                let job = Job {
                    spool,
                    compression: *compression,
                    layer: format!("L{i}"),
                };
                applier.reserve(&intr).await?;
                applier.submit(job, format!("layer {}", i + 1), &intr).await?;
            }
            Ok(applier.finish(&intr).await?.into_entries())
        })
    }

    fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in files {
            let mut h = tar::Header::new_gnu();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            b.append_data(&mut h, name, *data).expect("append");
        }
        b.into_inner().expect("tar")
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).expect("gzip");
        gz.finish().expect("gzip")
    }

    fn paths(entries: &[TreeEntry]) -> Vec<&str> {
        entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .map(|e| e.path.as_str())
            .collect()
    }

    #[test]
    fn what_follows_the_archive_end_is_not_read() {
        // A tar followed by 4 MiB of zeros (more than the chunks in flight), gzip-compressed,
        // then cut short: the stream is broken only after the archive's end, which a runtime's
        // tar reader never reaches either.
        let mut tail = tar_of(&[("lib/a.so", b"first")]);
        tail.extend(std::iter::repeat_n(0u8, 4 << 20));
        let mut cut = gzip(&tail);
        cut.truncate(cut.len() - 200);
        let next = tar_of(&[("lib/b.so", b"second")]);
        // Broken inside the archive: the error stands.
        let inside = gzip(&tar_of(&[("lib/c.so", &[7u8; 300_000])]));
        let inside = &inside[..inside.len() / 2];
        // (name, layers, files expected or the error code)
        type Case<'a> = (
            &'static str,
            Vec<(&'a [u8], Compression)>,
            Result<Vec<&'static str>, ErrorCode>,
        );
        let cases: Vec<Case> = vec![
            (
                "broken after the end, then another layer",
                vec![(&cut, Compression::Gzip), (&next, Compression::None)],
                Ok(vec!["lib/a.so", "lib/b.so"]),
            ),
            (
                "broken inside the archive",
                vec![(inside, Compression::Gzip), (&next, Compression::None)],
                Err(ErrorCode::Malformed),
            ),
        ];
        for (name, layers, want) in cases {
            let got = apply_on_workers(&layers, &Limits::default(), &|| false);
            match (&got, &want) {
                (Ok(tree), Ok(files)) => assert_eq!(&paths(tree), files, "{name}"),
                (Err(e), Err(code)) => assert_eq!(e.code(), *code, "{name}: {e}"),
                _ => panic!("{name}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn cancel_is_polled_on_the_calling_thread_and_stops_the_workers() {
        let big = tar_of(&[("lib/big.so", &vec![1u8; 16 << 20])]);
        let caller = std::thread::current().id();
        let callers = RefCell::new(Vec::new());
        let calls = std::cell::Cell::new(0u32);
        // Check 1: queueing the layer. Check 2, the first while waiting for the workers, cancels
        // (the parser needs far longer than that for 16 MiB).
        let cancel = || {
            callers.borrow_mut().push(std::thread::current().id());
            calls.set(calls.get() + 1);
            calls.get() >= 2
        };
        let start = Instant::now();
        let err = apply_on_workers(&[(&big, Compression::None)], &Limits::default(), &cancel).unwrap_err();
        assert_eq!(err.code(), ErrorCode::Cancelled, "{err}");
        assert!(err.to_string().contains("applying layer 1"), "{err}");
        assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
        assert!(callers.borrow().iter().all(|t| *t == caller));
    }
}
