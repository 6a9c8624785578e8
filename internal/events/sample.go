package events

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/eventpost/eventpost/internal/messages"
)

// city is a place events happen around; weight is its share of events.
type city struct {
	name, zone string // zone: the IANA time zone
	lat, lon   float64
	weight     float64
}

// sampleCities are the places of the sample events.
var sampleCities = []city{
	{"London", "Europe/London", 51.5074, -0.1278, 10}, {"Paris", "Europe/Paris", 48.8566, 2.3522, 9}, {"Berlin", "Europe/Berlin", 52.52, 13.405, 8},
	{"New York", "America/New_York", 40.7128, -74.006, 10}, {"San Francisco", "America/Los_Angeles", 37.7749, -122.4194, 6}, {"Tokyo", "Asia/Tokyo", 35.6762, 139.6503, 8},
	{"Sydney", "Australia/Sydney", -33.8688, 151.2093, 4}, {"Toronto", "America/Toronto", 43.6532, -79.3832, 4}, {"Madrid", "Europe/Madrid", 40.4168, -3.7038, 4},
	{"Rome", "Europe/Rome", 41.9028, 12.4964, 3}, {"Amsterdam", "Europe/Amsterdam", 52.3676, 4.9041, 3}, {"Barcelona", "Europe/Madrid", 41.3874, 2.1686, 3},
	{"Lisbon", "Europe/Lisbon", 38.7223, -9.1393, 2}, {"Vienna", "Europe/Vienna", 48.2082, 16.3738, 2}, {"Prague", "Europe/Prague", 50.0755, 14.4378, 2},
	{"Stockholm", "Europe/Stockholm", 59.3293, 18.0686, 2}, {"Copenhagen", "Europe/Copenhagen", 55.6761, 12.5683, 2}, {"Dublin", "Europe/Dublin", 53.3498, -6.2603, 2},
	{"Chicago", "America/Chicago", 41.8781, -87.6298, 3}, {"Austin", "America/Chicago", 30.2672, -97.7431, 2}, {"Seattle", "America/Los_Angeles", 47.6062, -122.3321, 2},
	{"Mexico City", "America/Mexico_City", 19.4326, -99.1332, 2}, {"São Paulo", "America/Sao_Paulo", -23.5505, -46.6333, 3}, {"Buenos Aires", "America/Argentina/Buenos_Aires", -34.6037, -58.3816, 2},
	{"Cape Town", "Africa/Johannesburg", -33.9249, 18.4241, 1}, {"Nairobi", "Africa/Nairobi", -1.2921, 36.8219, 1}, {"Mumbai", "Asia/Kolkata", 19.076, 72.8777, 3},
	{"Singapore", "Asia/Singapore", 1.3521, 103.8198, 2}, {"Seoul", "Asia/Seoul", 37.5665, 126.978, 3}, {"Auckland", "Pacific/Auckland", -36.8485, 174.7633, 1},
	{"Lyon", "Europe/Paris", 45.764, 4.8357, 1}, {"Munich", "Europe/Berlin", 48.1351, 11.582, 1}, {"Zurich", "Europe/Zurich", 47.3769, 8.5417, 1},
	{"Oslo", "Europe/Oslo", 59.9139, 10.7522, 1}, {"Helsinki", "Europe/Helsinki", 60.1699, 24.9384, 1}, {"Krakow", "Europe/Warsaw", 50.0647, 19.945, 1},
	{"Porto", "Europe/Lisbon", 41.1579, -8.6291, 1}, {"Edinburgh", "Europe/London", 55.9533, -3.1883, 1}, {"Montreal", "America/Toronto", 45.5017, -73.5673, 1},
	{"Suva", "Pacific/Fiji", -18.1248, 178.4501, 0.2},
}

// sampleCategory is a kind of event: its words, and its share of events.
type sampleCategory struct {
	name    string
	weight  float64
	topics  []string
	formats []string
	tags    []string
}

// sampleCategories are the categories of the sample events.
var sampleCategories = []sampleCategory{
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
	sampleAdjectives = []string{"Summer", "Winter", "Spring", "Autumn", "Friday", "Sunday", "Monthly", "Weekly",
		"Annual", "Late", "Early", "Big", "Little", "Open", "Grand", "Secret", "Rooftop", "Riverside", "Downtown", "Community"}
	sampleCommonTags = []string{"free", "beginners", "outdoors", "english", "family", "evening", "weekend", "online"}
	// sampleVocabulary is drawn from with a Zipf distribution: the first words are common, the
	// last ones rare.
	sampleVocabulary = strings.Fields(`the and join us for a an of to in with our this is on all at from
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

// The organizers' names: sampleFirstNames × sampleLastNames. SampleOrganizers pairs them so
// that the names are unique (len(sampleLastNames) must be prime to len(sampleFirstNames)+1 and
// at least sampleOrganizers/len(sampleFirstNames)) and neighbours differ in both.
var (
	sampleFirstNames = strings.Fields(`Ada Amara Ana Ben Carlos Chen Chiara Daniel Elena Emeka Fatima Felix
		Hana Hugo Ines Ingrid Isaac Jonas Julia Kenji Lars Leila Lucas Maya Mei Mateo Nadia Noah Olga Omar
		Priya Rafael Ravi Rosa Sami Sara Sofia Tariq Thandi Tomás Valentina Wei Yara Yusuf Zoe Aiko Bruno
		Camille Dmitri Grace`)
	sampleLastNames = strings.Fields(`Okafor Tanaka Müller Rossi García Kowalski Nguyen Silva Johansson
		Dubois Kim Patel Haddad O'Brien Novak Fernandes Ivanova Mensah Schmidt Costa Larsen Moreau Sato
		Andersson Romero Yilmaz Cohen Walsh Kapoor Lindqvist Morales Nakamura Petrov Bianchi Osei Jansen
		Horvat Lopez Fischer Alvarez Park`)
)

// Sample generates realistic events, as `eventpost seed` stores them and the benchmarks search
// them: titles from per-category words, descriptions with a Zipf word distribution, tags,
// places clustered around 40 cities (or an online link), in each city's time zone, starts on
// the quarter hour over the year after now, evenings the most popular, and organizers drawn
// from SampleOrganizers, a few of them holding most events. The same seed and now give the
// same events but for their IDs, which are new UUIDv7s. A Sample is not safe for concurrent
// use.
type Sample struct {
	r          *rand.Rand
	now        time.Time
	zipf       *rand.Zipf
	organizers []messages.AccountChanged
	zones      []*time.Location // of sampleCities, by index
	cityCDF    []float64
	catCDF     []float64
	n          int
	keep       int     // how many events to remember (KeepFirst)
	kept       []Event // the first events returned, up to keep
}

// NewSample returns a generator of events that start after now, drawn from the random seed.
func NewSample(seed uint64, now time.Time) *Sample {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &Sample{r: r, now: now, zipf: rand.NewZipf(r, 1.1, 4, uint64(len(sampleVocabulary)-1)), organizers: SampleOrganizers()}
	for _, c := range sampleCities {
		loc, err := time.LoadLocation(c.zone)
		if err != nil { // the zones are fixed and time/tzdata holds them all
			panic("events: sample city " + c.name + ": " + err.Error())
		}
		g.zones = append(g.zones, loc)
	}
	g.cityCDF = cdf(len(sampleCities), func(i int) float64 { return sampleCities[i].weight })
	g.catCDF = cdf(len(sampleCategories), func(i int) float64 { return sampleCategories[i].weight })
	return g
}

// sampleOrganizers is how many organizers SampleOrganizers returns.
const sampleOrganizers = 2000

// SampleOrganizers returns the organizers of the events a Sample generates, as the events
// service keeps its copy of accounts (Store.PutAccount): a display name made of a first and a
// last name, an address under example.invalid that is not confirmed (nobody is ever mailed at
// it), version 1, and an ID derived from the name (a UUIDv5), so that every seed names the
// same organizers. No auth account has these IDs: sample events cannot be changed through the
// API.
func SampleOrganizers() []messages.AccountChanged {
	out := make([]messages.AccountChanged, 0, sampleOrganizers)
	for i := range sampleOrganizers {
		first := sampleFirstNames[i%len(sampleFirstNames)]
		last := sampleLastNames[(i/len(sampleFirstNames)+i)%len(sampleLastNames)]
		name := first + " " + last
		id := uuid.NewSHA1(sampleNamespace, []byte(name)).String()
		out = append(out, messages.AccountChanged{
			AccountID: id, DisplayName: name, Version: 1,
			Email: fmt.Sprintf("sample-organizer-%d@example.invalid", i+1),
		})
	}
	return out
}

// sampleNamespace is the UUID namespace of the sample organizers' IDs.
var sampleNamespace = uuid.MustParse("6f1c1a52-6a0e-4f4e-9a51-5d1e2c3b4a59")

// cdf returns the cumulative distribution of n weights, from 0 to 1.
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

// pick returns the index of a value drawn from the distribution cdf.
func (g *Sample) pick(cdf []float64) int {
	x := g.r.Float64()
	i, _ := slices.BinarySearch(cdf, x)
	return min(i, len(cdf)-1)
}

// word returns one of list, drawn uniformly.
func (g *Sample) word(list []string) string { return list[g.r.IntN(len(list))] }

// KeepFirst makes g remember the next n events it returns, for Kept.
func (g *Sample) KeepFirst(n int) { g.keep = n }

// Kept returns the events KeepFirst asked g to remember, as far as it has returned them.
func (g *Sample) Kept() []Event { return g.kept }

// Event returns the next event.
func (g *Sample) Event() Event {
	e := g.event()
	if len(g.kept) < g.keep {
		g.kept = append(g.kept, e)
	}
	return e
}

// event draws the next event.
func (g *Sample) event() Event {
	g.n++
	cat := sampleCategories[g.pick(g.catCDF)]
	title := g.word(cat.topics) + " " + g.word(cat.formats)
	if g.r.IntN(2) == 0 {
		title = g.word(sampleAdjectives) + " " + title
	}
	words := make([]string, 15+g.r.IntN(60))
	for i := range words {
		words[i] = sampleVocabulary[g.zipf.Uint64()]
	}
	desc := strings.ToUpper(words[0][:1]) + words[0][1:] + " " + strings.Join(words[1:], " ") + "."

	var tags []string
	for range g.r.IntN(5) {
		t := g.word(cat.tags)
		if g.r.IntN(4) == 0 {
			t = g.word(sampleCommonTags)
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	if tags == nil {
		tags = []string{}
	}
	// Evenings are popular, and events start on the quarter hour, local time.
	days := g.r.IntN(365)
	hour := []int{9, 10, 11, 12, 14, 15, 17, 18, 18, 19, 19, 19, 20, 20, 21}[g.r.IntN(15)]
	minute := g.r.IntN(4) * 15
	e := Event{
		ID: uuid.Must(uuid.NewV7()).String(), OrganizerID: g.organizers[int(g.r.ExpFloat64()*300)%len(g.organizers)].AccountID,
		Title: title, Description: desc, Timezone: "UTC", Tags: tags,
		CreatedAt: g.now, UpdatedAt: g.now,
	}
	var hours time.Duration
	if g.r.IntN(3) > 0 {
		hours = time.Duration(1+g.r.IntN(4)) * time.Hour
	}
	category := cat.name
	e.Category = &category
	loc := time.UTC
	if g.r.IntN(7) == 0 { // online
		u := fmt.Sprintf("https://meet.example.com/%d", g.n)
		e.OnlineURL = &u
	} else {
		i := g.pick(g.cityCDF)
		c := sampleCities[i]
		loc, e.Timezone = g.zones[i], c.zone
		// Within about 15 km of the centre.
		lat := c.lat + g.r.NormFloat64()*0.06
		lon := c.lon + g.r.NormFloat64()*0.06/math.Cos(c.lat*math.Pi/180)
		e.Location = &Location{Name: g.word(cat.topics) + " " + g.word([]string{"Hall", "Club", "Park", "Studio", "Cafe", "Centre"}),
			Address: fmt.Sprintf("%d %s Street, %s", 1+g.r.IntN(200), g.word(sampleAdjectives), c.name), Lat: &lat, Lon: &lon}
	}
	y, m, d := g.now.In(loc).AddDate(0, 0, days).Date()
	e.StartsAt = time.Date(y, m, d, hour, minute, 0, 0, loc).UTC()
	if !e.StartsAt.After(g.now) {
		e.StartsAt = time.Date(y, m, d+1, hour, minute, 0, 0, loc).UTC()
	}
	if hours > 0 {
		end := e.StartsAt.Add(hours)
		e.EndsAt = &end
	}
	if g.r.IntN(2) == 0 {
		c := int64(10 + g.r.IntN(500))
		e.Capacity = &c
	}
	return e
}
