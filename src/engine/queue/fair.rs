//! Waiting jobs, taken round-robin per client: a client that queued ten jobs does not make
//! another client's single job wait behind all ten.

use std::collections::VecDeque;

/// Who submitted a job: one per caller sharing the queue (a plugin instance, the CLI).
pub type ClientId = u64;

/// A FIFO per client; clients take turns in the order they first queued something.
#[derive(Debug)]
pub struct FairQueue<T> {
    /// Clients with waiting items, the next to be served first, each with its items in order.
    turns: VecDeque<(ClientId, VecDeque<T>)>,
}

impl<T> Default for FairQueue<T> {
    fn default() -> Self {
        Self {
            turns: VecDeque::new(),
        }
    }
}

impl<T> FairQueue<T> {
    /// Queues `item` behind `client`'s other items.
    pub fn push(&mut self, client: ClientId, item: T) {
        match self.turns.iter_mut().find(|(c, _)| *c == client) {
            Some((_, items)) => items.push_back(item),
            None => self.turns.push_back((client, VecDeque::from([item]))),
        }
    }

    /// The next item: the first of the client whose turn it is; that client then goes to the
    /// back of the line (if it has more).
    pub fn pop(&mut self) -> Option<(ClientId, T)> {
        let (client, mut items) = self.turns.pop_front()?;
        let item = items.pop_front()?;
        if !items.is_empty() {
            self.turns.push_back((client, items));
        }
        Some((client, item))
    }

    /// Removes and returns the first item `matches` accepts (given its client).
    pub fn remove(&mut self, matches: impl Fn(ClientId, &T) -> bool) -> Option<(ClientId, T)> {
        let (turn, index) = self
            .turns
            .iter()
            .enumerate()
            .find_map(|(turn, (client, items))| {
                items
                    .iter()
                    .position(|item| matches(*client, item))
                    .map(|index| (turn, index))
            })?;
        let (client, items) = &mut self.turns[turn];
        let client = *client;
        let item = items.remove(index)?;
        if items.is_empty() {
            self.turns.remove(turn);
        }
        Some((client, item))
    }

    /// Removes every item of `client`, in its order.
    pub fn remove_client(&mut self, client: ClientId) -> Vec<T> {
        match self.turns.iter().position(|(c, _)| *c == client) {
            Some(turn) => self
                .turns
                .remove(turn)
                .map(|(_, items)| items.into())
                .unwrap_or_default(),
            None => Vec::new(),
        }
    }

    /// Removes everything, in the order it would have run.
    pub fn drain(&mut self) -> Vec<(ClientId, T)> {
        let mut all = Vec::new();
        while let Some(next) = self.pop() {
            all.push(next);
        }
        all
    }

    /// Every item in the order [`FairQueue::pop`] would return them.
    pub fn in_order(&self) -> Vec<(ClientId, &T)> {
        let mut cursors: Vec<(ClientId, std::collections::vec_deque::Iter<'_, T>)> = self
            .turns
            .iter()
            .map(|(client, items)| (*client, items.iter()))
            .collect();
        let mut order = Vec::new();
        while !cursors.is_empty() {
            cursors.retain_mut(|(client, items)| match items.next() {
                Some(item) => {
                    order.push((*client, item));
                    true
                }
                None => false,
            });
        }
        order
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.turns.iter().map(|(_, items)| items.len()).sum()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.turns.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_take_turns_and_each_keeps_its_order() {
        let mut queue = FairQueue::default();
        for job in ["a1", "a2", "a3"] {
            queue.push(1, job);
        }
        queue.push(2, "b1");
        queue.push(3, "c1");
        queue.push(2, "b2");
        let expected = [
            (1, "a1"),
            (2, "b1"),
            (3, "c1"),
            (1, "a2"),
            (2, "b2"),
            (1, "a3"),
        ];
        let planned: Vec<(ClientId, &str)> =
            queue.in_order().into_iter().map(|(c, j)| (c, *j)).collect();
        assert_eq!(planned, expected);
        assert_eq!(queue.len(), 6);
        let served: Vec<(ClientId, &str)> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(served, expected);
        assert!(queue.is_empty());
    }

    #[test]
    fn a_client_that_comes_back_waits_for_its_turn() {
        let mut queue = FairQueue::default();
        queue.push(1, "a1");
        queue.push(2, "b1");
        assert_eq!(queue.pop(), Some((1, "a1")));
        // Client 1 queues again while 2 waits: 2 goes first.
        queue.push(1, "a2");
        assert_eq!(queue.pop(), Some((2, "b1")));
        assert_eq!(queue.pop(), Some((1, "a2")));
        assert_eq!(queue.pop(), None);
    }

    #[test]
    fn removing_items_and_clients() {
        let mut queue = FairQueue::default();
        queue.push(1, 10);
        queue.push(1, 11);
        queue.push(2, 20);
        assert_eq!(queue.remove(|c, &j| c == 1 && j == 20), None);
        assert_eq!(queue.remove(|_, &j| j == 20), Some((2, 20)));
        assert_eq!(queue.remove(|_, &j| j == 20), None);
        assert_eq!(queue.remove_client(1), [10, 11]);
        assert!(queue.is_empty());
        queue.push(3, 30);
        queue.push(4, 40);
        assert_eq!(queue.drain(), [(3, 30), (4, 40)]);
    }
}
