package main

import (
	"math/rand/v2"
	"time"
)

// The seed's vocabulary: titles are a fixed phrase a quarter of the time and
// a verb with an object otherwise, so lists look like a person's to-do list
// and titles repeat about as often as real ones do.
var (
	phrases = []string{
		"Buy groceries", "Call mom", "Finish Q4 report", "Book dentist appointment",
		"Renew passport", "Pay electricity bill", "Water the plants", "Walk the dog",
		"Pick up dry cleaning", "Schedule team retro", "Back up laptop", "Plan weekend trip",
		"Reply to Sarah", "Cancel gym membership", "File expense report", "Take out recycling",
	}
	verbs = []string{
		"Buy", "Call", "Email", "Finish", "Review", "Fix", "Clean", "Write", "Read", "Schedule",
		"Prepare", "Update", "Order", "Return", "Pay", "Plan", "Organize", "Send", "Check", "Book",
	}
	objects = []string{
		"groceries", "the landlord", "the quarterly report", "slides for Monday", "the kitchen",
		"the bike", "the insurance forms", "birthday present for Alex", "the garage", "flight tickets",
		"the budget spreadsheet", "project proposal", "the car service", "library books", "the invoice",
		"meeting notes", "the newsletter", "thank-you cards", "the bathroom sink", "tax documents",
		"the onboarding checklist", "pull request #42", "the hotel booking", "vitamins", "printer ink",
	}
	details = []string{
		"Don't forget to check the receipt.",
		"Needs to be done before the end of the week.",
		"Ask Jordan if the numbers from last month are final.",
		"Low priority, but it keeps coming up.",
		"See the email thread from Tuesday for the details.",
		"Bring the blue folder.",
		"Compare prices online first; the shop on the corner was cheaper last time.",
		"Call ahead to make sure they're open.",
		"Split the cost with the others.",
		"Remember the reference number: it is on the last letter.",
	}
)

// randomTitle returns a task title from the built-in vocabulary.
func randomTitle(rng *rand.Rand) string {
	if rng.IntN(4) == 0 {
		return phrases[rng.IntN(len(phrases))]
	}
	return verbs[rng.IntN(len(verbs))] + " " + objects[rng.IntN(len(objects))]
}

// randomDescription returns one or two sentences of task description.
func randomDescription(rng *rand.Rand) string {
	d := details[rng.IntN(len(details))]
	if rng.IntN(3) == 0 {
		d += " " + details[rng.IntN(len(details))]
	}
	return d
}

// spreadTime places item k of n on the span [start, end): items are evenly
// spaced in order, each jittered within its own slot, so the result rises
// with k the way creation times rise with ids in a live table. It returns a
// UTC time truncated to the microsecond, what timestamptz stores.
func spreadTime(k, n int, start, end time.Time, rng *rand.Rand) time.Time {
	if n <= 0 || !end.After(start) {
		return start.UTC().Truncate(time.Microsecond)
	}
	slot := float64(end.Sub(start)) / float64(n)
	off := time.Duration((float64(k) + rng.Float64()) * slot)
	return start.Add(off).UTC().Truncate(time.Microsecond)
}

// completionTime returns when a task created at created was completed: at
// least a minute and at most two weeks later (most within a few days), never
// after now and never before created.
func completionTime(created, now time.Time, rng *rand.Rand) time.Time {
	room := now.Sub(created)
	if room <= 0 {
		return created
	}
	// Squaring a uniform number skews towards quick completions.
	u := rng.Float64()
	gap := time.Minute + time.Duration(u*u*float64(14*24*time.Hour))
	if gap > room {
		gap = time.Duration(rng.Float64() * float64(room))
	}
	return created.Add(gap).UTC().Truncate(time.Microsecond)
}
