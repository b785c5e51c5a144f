"""Talk day: a thread per talk, the slides, questions from the room, and the engagement they add.

One module per job, imported directly (this package imports none of them, so `reviews` can read
the question counts without importing the talk schedule):

- `threads`: the thread of each talk as outbox rows (create, update the first message, archive)
  planned from the talk schedule, and the bookkeeping their Discord-side delivery calls;
- `slides`: `/talk slides`, a presenter's file (kept by the bot) or link;
- `questions`: `/talk ask` and the messages written directly in a thread, and their counts.
"""
