package events

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/platform/database"
	"github.com/eventpost/eventpost/internal/platform/logging"
	"github.com/eventpost/eventpost/internal/platform/svcdeps"
)

// benchEvents is how many events the search benchmarks store.
const benchEvents = 100_000

// benchFixture is a store seeded with benchEvents realistic events, shared by the benchmarks
// of one test binary run. Set EVENTPOST_BENCH_DIR to keep (and reuse) it across runs.
var benchFixture struct {
	once  sync.Once
	dir   string // removed by TestMain unless kept
	keep  bool
	store *SQLStore
	ids   []string
	now   time.Time
	err   error
}

func benchStore(b *testing.B) (*SQLStore, []string, time.Time) {
	b.Helper()
	f := &benchFixture
	f.once.Do(func() {
		f.dir, f.keep = os.Getenv("EVENTPOST_BENCH_DIR"), true
		if f.dir == "" {
			f.dir, f.err = os.MkdirTemp("", "events-bench-")
			f.keep = false
			if f.err != nil {
				return
			}
		}
		f.store, f.ids, f.now, f.err = openBenchStore(context.Background(), filepath.Join(f.dir, "events-bench.db"))
	})
	if f.err != nil {
		b.Fatal(f.err)
	}
	return f.store, f.ids, f.now
}

// openBenchStore opens the seeded database at path, seeding it first if it is new. The
// events start within the year after the time recorded with the seed, which the benchmarks
// use as the current time.
func openBenchStore(ctx context.Context, path string) (*SQLStore, []string, time.Time, error) {
	s, err := Open(ctx, database.SQLite, path, logging.Discard())
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	if _, err := s.DB().ExecContext(ctx, `CREATE TABLE IF NOT EXISTS bench_seed (now INTEGER NOT NULL)`); err != nil {
		return nil, nil, time.Time{}, err
	}
	var nowMicro int64
	err = s.DB().QueryRowContext(ctx, `SELECT now FROM bench_seed`).Scan(&nowMicro)
	if err == sql.ErrNoRows {
		now := time.Now().UTC().Truncate(time.Hour)
		if err := seedBench(ctx, s, now, benchEvents); err != nil {
			return nil, nil, time.Time{}, err
		}
		nowMicro = now.UnixMicro()
		_, err = s.DB().ExecContext(ctx, `INSERT INTO bench_seed (now) VALUES (?)`, nowMicro)
	}
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	rows, err := s.DB().QueryContext(ctx, `SELECT id FROM events`)
	if err != nil {
		return nil, nil, time.Time{}, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, nil, time.Time{}, err
		}
		ids = append(ids, id)
	}
	return s, ids, database.FromMicros(nowMicro), rows.Err()
}

// seedBench stores n generated events in transactions of a few thousand.
func seedBench(ctx context.Context, s *SQLStore, now time.Time, n int) error {
	g := newEventGen(1, now)
	const batch = 5000
	for i := 0; i < n; i += batch {
		tx, err := s.DB().BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		for range min(batch, n-i) {
			if err := s.insertEvent(ctx, tx, g.event()); err != nil {
				tx.Rollback()
				return err
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	_, err := s.DB().ExecContext(ctx, `INSERT INTO events_fts (events_fts) VALUES ('optimize'); ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// city is a place events happen around; weight is its share of events.
type city struct {
	name     string
	lat, lon float64
	weight   float64
}

var benchCities = []city{
	{"London", 51.5074, -0.1278, 10}, {"Paris", 48.8566, 2.3522, 9}, {"Berlin", 52.52, 13.405, 8},
	{"New York", 40.7128, -74.006, 10}, {"San Francisco", 37.7749, -122.4194, 6}, {"Tokyo", 35.6762, 139.6503, 8},
	{"Sydney", -33.8688, 151.2093, 4}, {"Toronto", 43.6532, -79.3832, 4}, {"Madrid", 40.4168, -3.7038, 4},
	{"Rome", 41.9028, 12.4964, 3}, {"Amsterdam", 52.3676, 4.9041, 3}, {"Barcelona", 41.3874, 2.1686, 3},
	{"Lisbon", 38.7223, -9.1393, 2}, {"Vienna", 48.2082, 16.3738, 2}, {"Prague", 50.0755, 14.4378, 2},
	{"Stockholm", 59.3293, 18.0686, 2}, {"Copenhagen", 55.6761, 12.5683, 2}, {"Dublin", 53.3498, -6.2603, 2},
	{"Chicago", 41.8781, -87.6298, 3}, {"Austin", 30.2672, -97.7431, 2}, {"Seattle", 47.6062, -122.3321, 2},
	{"Mexico City", 19.4326, -99.1332, 2}, {"São Paulo", -23.5505, -46.6333, 3}, {"Buenos Aires", -34.6037, -58.3816, 2},
	{"Cape Town", -33.9249, 18.4241, 1}, {"Nairobi", -1.2921, 36.8219, 1}, {"Mumbai", 19.076, 72.8777, 3},
	{"Singapore", 1.3521, 103.8198, 2}, {"Seoul", 37.5665, 126.978, 3}, {"Auckland", -36.8485, 174.7633, 1},
	{"Lyon", 45.764, 4.8357, 1}, {"Munich", 48.1351, 11.582, 1}, {"Zurich", 47.3769, 8.5417, 1},
	{"Oslo", 59.9139, 10.7522, 1}, {"Helsinki", 60.1699, 24.9384, 1}, {"Krakow", 50.0647, 19.945, 1},
	{"Porto", 41.1579, -8.6291, 1}, {"Edinburgh", 55.9533, -3.1883, 1}, {"Montreal", 45.5017, -73.5673, 1},
	{"Suva", -18.1248, 178.4501, 0.2},
}

type benchCategory struct {
	name    string
	weight  float64
	topics  []string
	formats []string
	tags    []string
}

var benchCategories = []benchCategory{
	{"music", 14, []string{"jazz", "techno", "folk", "classical", "indie", "hip-hop", "blues", "choir", "piano", "opera"},
		[]string{"Night", "Concert", "Session", "Live", "Festival", "Showcase"}, []string{"live-music", "concert", "jazz", "dj", "festival", "band"}},
	{"tech", 12, []string{"Rust", "Go", "Kubernetes", "Python", "AI", "Security", "Data", "Cloud", "Web", "Mobile"},
		[]string{"Meetup", "Workshop", "Conference", "Hackathon", "Talk", "Study Group"}, []string{"programming", "open-source", "ai", "devops", "startup", "workshop"}},
	{"sports", 9, []string{"Running", "Cycling", "Football", "Climbing", "Yoga", "Swimming", "Tennis", "Basketball"},
		[]string{"Club", "Race", "Training", "Tournament", "Morning", "League"}, []string{"running", "fitness", "outdoors", "team", "beginners"}},
	{"art", 8, []string{"Painting", "Photography", "Sculpture", "Street Art", "Illustration", "Ceramics"},
		[]string{"Exhibition", "Workshop", "Opening", "Tour", "Class"}, []string{"art", "gallery", "workshop", "creative"}},
	{"food", 8, []string{"Wine", "Cheese", "Vegan", "Street Food", "Coffee", "Baking", "Sushi", "Craft Beer"},
		[]string{"Tasting", "Market", "Class", "Festival", "Dinner", "Pop-up"}, []string{"food", "wine", "tasting", "market", "cooking"}},
	{"outdoors", 6, []string{"Hiking", "Birdwatching", "Kayaking", "Camping", "Gardening", "Stargazing"},
		[]string{"Trip", "Walk", "Weekend", "Adventure", "Club"}, []string{"outdoors", "nature", "hiking", "family"}},
	{"film", 5, []string{"Documentary", "Horror", "Classic", "Indie", "Animation", "Short Film"},
		[]string{"Screening", "Festival", "Night", "Club", "Premiere"}, []string{"film", "cinema", "screening"}},
	{"theatre", 4, []string{"Comedy", "Improv", "Drama", "Musical", "Dance", "Poetry"},
		[]string{"Show", "Evening", "Performance", "Open Mic", "Premiere"}, []string{"theatre", "comedy", "performance", "dance"}},
	{"books", 4, []string{"Fiction", "Poetry", "Science Fiction", "History", "Crime", "Philosophy"},
		[]string{"Book Club", "Reading", "Signing", "Swap", "Salon"}, []string{"books", "reading", "literature"}},
	{"science", 4, []string{"Astronomy", "Biology", "Physics", "Climate", "Neuroscience", "Chemistry"},
		[]string{"Lecture", "Talk", "Pub Quiz", "Night", "Lab Tour"}, []string{"science", "lecture", "education"}},
	{"family", 4, []string{"Kids", "Puppet", "Lego", "Storytime", "Zoo", "Museum"},
		[]string{"Morning", "Workshop", "Day", "Party", "Adventure"}, []string{"family", "kids", "free"}},
	{"business", 5, []string{"Startup", "Marketing", "Leadership", "Finance", "Product", "Design"},
		[]string{"Breakfast", "Summit", "Networking", "Masterclass", "Panel"}, []string{"networking", "startup", "business", "career"}},
	{"community", 6, []string{"Neighbourhood", "Volunteer", "Language", "Board Game", "Charity", "Repair"},
		[]string{"Meetup", "Cafe", "Evening", "Drive", "Exchange"}, []string{"community", "volunteering", "free", "social"}},
	{"games", 3, []string{"Chess", "Board Game", "Esports", "Trivia", "Poker", "Retro Gaming"},
		[]string{"Night", "Tournament", "Club", "Marathon", "League"}, []string{"games", "chess", "trivia", "social"}},
}

var (
	benchAdjectives = []string{"Summer", "Winter", "Spring", "Autumn", "Friday", "Sunday", "Monthly", "Weekly",
		"Annual", "Late", "Early", "Big", "Little", "Open", "Grand", "Secret", "Rooftop", "Riverside", "Downtown", "Community"}
	benchCommonTags = []string{"free", "beginners", "outdoors", "english", "family", "evening", "weekend", "online"}
	// benchVocabulary is drawn from with a Zipf distribution: the first words are common, the
	// last ones rare.
	benchVocabulary = strings.Fields(`the and join us for a an of to in with our this is on all at from
		evening night friends welcome meet people new fun great come bring everyone free event together
		music local city learn share enjoy drinks food open talk time first best experience community
		space venue doors start please ticket tickets limited seats book early arrive hosted by team
		group session workshop guests special live sound morning weekend afternoon day week month season
		beginners experts everyone welcome kids adults family friendly outdoor indoor garden park river
		museum library hall studio cafe bar club gallery theatre cinema market square station harbour
		coffee tea wine beer snacks dinner lunch breakfast dessert cake bread cheese fruit vegetables
		history science art design photography painting drawing writing reading poetry stories books
		guitar piano violin drums vocals choir band orchestra quartet trio duo solo jam improvisation
		code software developers engineers hardware robots data cloud security privacy python golang
		rustlang javascript kubernetes databases postgres sqlite linux opensource startups founders
		investors product marketing sales leadership career networking mentoring coaching interview
		running cycling hiking climbing swimming yoga pilates football tennis basketball volleyball
		chess poker trivia quiz boardgames esports retro arcade puzzle riddles escape mystery detective
		stars planets telescope astronomy biology physics chemistry climate oceans forests birds insects
		volunteer charity donation repair recycle sustainability neighbourhood language exchange culture
		festival parade carnival lanterns fireworks bonfire picnic barbecue potluck brunch supper feast
		documentary animation premiere screening director actors script improv comedy drama musical
		ceramics pottery sculpture illustration printmaking textile knitting sewing woodwork calligraphy
		origami bonsai terrarium succulents beekeeping foraging mushrooms fermentation kombucha sourdough
		zanzibar quetzal marimba xylophone ukulele theremin harpsichord bandoneon didgeridoo balalaika
		aurora borealis eclipse meteor nebula quasar pulsar supernova exoplanet cosmology
		axolotl pangolin narwhal okapi platypus quokka tardigrade capybara wombat kakapo`)
)

// eventGen generates realistic events: titles from per-category words, descriptions with a
// Zipf word distribution, tags, places clustered around cities, starts over the next year.
type eventGen struct {
	r          *rand.Rand
	now        time.Time
	zipf       *rand.Zipf
	organizers []string
	cityCDF    []float64
	catCDF     []float64
	n          int
}

func newEventGen(seed uint64, now time.Time) *eventGen {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &eventGen{r: r, now: now, zipf: rand.NewZipf(r, 1.1, 4, uint64(len(benchVocabulary)-1))}
	for range 2000 {
		g.organizers = append(g.organizers, uuid.Must(uuid.NewV7()).String())
	}
	g.cityCDF = cdf(len(benchCities), func(i int) float64 { return benchCities[i].weight })
	g.catCDF = cdf(len(benchCategories), func(i int) float64 { return benchCategories[i].weight })
	return g
}

func cdf(n int, weight func(int) float64) []float64 {
	out := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += weight(i)
		out[i] = sum
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

func (g *eventGen) pick(cdf []float64) int {
	x := g.r.Float64()
	i, _ := slices.BinarySearch(cdf, x)
	return min(i, len(cdf)-1)
}

func (g *eventGen) word(list []string) string { return list[g.r.IntN(len(list))] }

func (g *eventGen) event() Event {
	g.n++
	cat := benchCategories[g.pick(g.catCDF)]
	title := g.word(cat.topics) + " " + g.word(cat.formats)
	if g.r.IntN(2) == 0 {
		title = g.word(benchAdjectives) + " " + title
	}
	words := make([]string, 15+g.r.IntN(60))
	for i := range words {
		words[i] = benchVocabulary[g.zipf.Uint64()]
	}
	desc := strings.ToUpper(words[0][:1]) + words[0][1:] + " " + strings.Join(words[1:], " ") + "."

	var tags []string
	for range g.r.IntN(5) {
		t := g.word(cat.tags)
		if g.r.IntN(4) == 0 {
			t = g.word(benchCommonTags)
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	// Evenings are popular, and events start on the quarter hour.
	day := g.now.Add(time.Duration(g.r.IntN(365)) * 24 * time.Hour).Truncate(24 * time.Hour)
	hour := []int{9, 10, 11, 12, 14, 15, 17, 18, 18, 19, 19, 19, 20, 20, 21}[g.r.IntN(15)]
	start := day.Add(time.Duration(hour)*time.Hour + time.Duration(g.r.IntN(4)*15)*time.Minute)
	if !start.After(g.now) {
		start = start.Add(24 * time.Hour)
	}
	e := Event{
		ID: uuid.Must(uuid.NewV7()).String(), OrganizerID: g.organizers[int(g.r.ExpFloat64()*300)%len(g.organizers)],
		Title: title, Description: desc, StartsAt: start, Timezone: "UTC", Tags: tags,
		CreatedAt: g.now, UpdatedAt: g.now,
	}
	if g.r.IntN(3) > 0 {
		end := start.Add(time.Duration(1+g.r.IntN(4)) * time.Hour)
		e.EndsAt = &end
	}
	category := cat.name
	e.Category = &category
	if g.r.IntN(7) == 0 { // online
		u := fmt.Sprintf("https://meet.example.com/%d", g.n)
		e.OnlineURL = &u
	} else {
		c := benchCities[g.pick(g.cityCDF)]
		// Within about 15 km of the centre.
		lat := c.lat + g.r.NormFloat64()*0.06
		lon := c.lon + g.r.NormFloat64()*0.06/math.Cos(c.lat*math.Pi/180)
		e.Location = &Location{Name: g.word(cat.topics) + " " + g.word([]string{"Hall", "Club", "Park", "Studio", "Cafe", "Centre"}),
			Address: fmt.Sprintf("%d %s Street, %s", 1+g.r.IntN(200), g.word(benchAdjectives), c.name), Lat: &lat, Lon: &lon}
	}
	if g.r.IntN(2) == 0 {
		c := int64(10 + g.r.IntN(500))
		e.Capacity = &c
	}
	return e
}

// benchShapes are the query shapes of BenchmarkSearch; each is a list of query strings
// tried in turn.
var benchShapes = []struct {
	name    string
	queries []string
}{
	{"list", []string{""}},
	{"list_page_50", []string{"limit=100"}},
	{"q_common", []string{"q=friends", "q=music", "q=welcome", "q=evening", "q=night"}},
	{"q_rare", []string{"q=axolotl", "q=quokka", "q=theremin", "q=pulsar", "q=kakapo"}},
	{"q_prefix", []string{"q=jaz", "q=work", "q=tast", "q=sci", "q=ch"}},
	{"q_one_letter", []string{"q=a", "q=s", "q=m"}},
	{"q_two_words", []string{"q=live+jazz", "q=python+workshop", "q=wine+tasting"}},
	{"absent", []string{"q=zebra", "q=xylophonist", "tag=zebra", "category=zebra"}},
	{"tag", []string{"tag=free", "tag=jazz", "tag=networking", "tag=outdoors"}},
	{"two_tags", []string{"tag=free&tag=family", "tag=live-music&tag=jazz"}},
	{"category", []string{"category=music", "category=tech", "category=games"}},
	{"near_city", []string{"near=51.5074,-0.1278", "near=48.8566,2.3522", "near=40.7128,-74.006"}},
	{"near_small", []string{"near=-18.1248,178.4501", "near=45.764,4.8357&radius_km=10", "near=60.1699,24.9384"}},
	{"near_nobody", []string{"near=0,-30", "near=-60,100&radius_km=500"}},
	{"near_wide", []string{"near=48.8566,2.3522&radius_km=2000", "near=0,0&radius_km=20000"}},
	{"time_range", []string{"from=%s&to=%s"}},
	{"combined", []string{"q=jazz&category=music&near=48.8566,2.3522", "q=workshop&tag=beginners&near=51.5074,-0.1278&radius_km=50", "q=wine&category=food&tag=tasting"}},
	{"combined_sparse", []string{"q=friends&near=-18.1248,178.4501", "tag=free&category=games", "q=music&tag=chess&near=51.5074,-0.1278", "category=tech&near=0,-30"}},
	{"organizer", []string{"organizer_id=%o"}},
}

// BenchmarkSearch measures every query shape over benchEvents stored events and reports the
// median and 95th percentile latency of one search.
func BenchmarkSearch(b *testing.B) {
	store, _, now := benchStore(b)
	benchSearch(b, store, store.DB(), now)
}

// benchSearch runs the benchmark of every query shape on store, whose database is db, through
// the service at the time now.
func benchSearch(b *testing.B, store Store, db *sql.DB, now time.Time) {
	svc := benchService(b, store, now)
	ctx := context.Background()
	var organizer string
	if err := db.QueryRowContext(ctx, `SELECT organizer_id FROM events GROUP BY organizer_id ORDER BY count(*) DESC LIMIT 1`).Scan(&organizer); err != nil {
		b.Fatal(err)
	}
	for _, shape := range benchShapes {
		b.Run(shape.name, func(b *testing.B) {
			values := make([]url.Values, len(shape.queries))
			for i, raw := range shape.queries {
				v, err := benchQuery(raw, now, organizer)
				if err != nil {
					b.Fatal(err)
				}
				values[i] = v
			}
			var durations []time.Duration
			items := 0
			for i := 0; b.Loop(); i++ {
				start := time.Now()
				q, err := ParseSearchQuery(values[i%len(values)])
				if err != nil {
					b.Fatal(err)
				}
				res, err := svc.Search(ctx, q)
				if err != nil {
					b.Fatal(err)
				}
				durations = append(durations, time.Since(start))
				items += len(res.Items)
			}
			reportPercentiles(b, durations)
			b.ReportMetric(float64(items)/float64(len(durations)), "items/op")
		})
	}
}

// benchQuery returns the query parameters of raw, one of benchShapes' queries: the first %s
// stands for a month after now, the second for two months after, %o for organizer.
func benchQuery(raw string, now time.Time, organizer string) (url.Values, error) {
	raw = strings.Replace(raw, "%s", url.QueryEscape(now.Add(30*24*time.Hour).Format(time.RFC3339)), 1)
	raw = strings.Replace(raw, "%s", url.QueryEscape(now.Add(60*24*time.Hour).Format(time.RFC3339)), 1)
	raw = strings.Replace(raw, "%o", organizer, 1)
	return url.ParseQuery(raw)
}

// BenchmarkGetEvent measures reading one event by ID.
func BenchmarkGetEvent(b *testing.B) {
	store, ids, now := benchStore(b)
	svc := benchService(b, store, now)
	ctx := context.Background()
	var durations []time.Duration
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		if _, err := svc.Get(ctx, ids[(i*7919)%len(ids)]); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	reportPercentiles(b, durations)
}

func benchService(b *testing.B, store Store, now time.Time) *Service {
	b.Helper()
	svc, err := New(DefaultConfig(), Deps{
		Common: svcdeps.Common{Log: logging.Discard(), Registry: newRegistry(), Now: func() time.Time { return now }},
		Store:  store,
	})
	if err != nil {
		b.Fatal(err)
	}
	return svc
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	pct := func(p float64) float64 {
		i := min(int(math.Ceil(p*float64(len(d))))-1, len(d)-1)
		return float64(d[max(i, 0)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
}
