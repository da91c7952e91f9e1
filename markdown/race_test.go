//go:build race

package markdown

// raceEnabled is set when the tests run with -race, under which sync.Pool
// drops what it is given at random: allocation counts do not hold.
const raceEnabled = true
