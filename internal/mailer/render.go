package mailer

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net/mail"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"
	_ "time/tzdata" // event time zones render the same on hosts without a zoneinfo database
	"unicode"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

	"github.com/eventpost/eventpost/internal/messages"
	"github.com/eventpost/eventpost/internal/platform/ics"
)

//go:embed templates/*.txt templates/*.html
var templateFS embed.FS

// Rendering errors. Rendering is deterministic, so every rendering error is permanent.
var (
	// ErrInvalidRecipient: the recipient is not a bare email address such as a@example.com.
	ErrInvalidRecipient = errors.New("recipient is not a bare email address")
	// ErrInvalidRequest: the send request lacks what its kind needs, or names an unknown kind.
	ErrInvalidRequest = errors.New("send request cannot be rendered")
)

// startLayout shows an event's start in its own time zone: "Monday, 1 March 2027, 19:30 CET".
const startLayout = "Monday, 2 January 2006, 15:04 MST"

// maxHeaderRunes caps user text placed in a header (subject, display name).
const maxHeaderRunes = 200

// Renderer turns send requests into MIME messages from the embedded templates.
type Renderer struct {
	from      *mail.Address
	domain    string // of Message-IDs
	publicURL string
	text      *texttemplate.Template
	html      *htmltemplate.Template
}

// NewRenderer parses the embedded templates. from is the From header ("Name <addr>");
// publicURL is the web address event links start with.
func NewRenderer(from, publicURL string) (*Renderer, error) {
	addr, err := mail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail from %q: %w", from, err)
	}
	addr.Name = headerText(addr.Name)
	domain := "eventpost.local"
	if i := strings.LastIndexByte(addr.Address, '@'); i >= 0 && i < len(addr.Address)-1 {
		domain = addr.Address[i+1:]
	}
	text, err := texttemplate.ParseFS(templateFS, "templates/*.txt")
	if err != nil {
		return nil, fmt.Errorf("parse text templates: %w", err)
	}
	html, err := htmltemplate.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("parse html templates: %w", err)
	}
	for _, k := range []messages.EmailKind{
		messages.EmailWelcome, messages.EmailReminder, messages.EmailEventChanged, messages.EmailEventCancelled,
		messages.EmailPasswordReset, messages.EmailAccountLocked, messages.EmailConfirm, messages.EmailChanged,
		messages.EmailConsentRequest, messages.EmailWaitlistPromoted,
	} {
		if text.Lookup(string(k)+".txt") == nil || html.Lookup(string(k)+".html") == nil {
			return nil, fmt.Errorf("templates for %s missing", k)
		}
	}
	return &Renderer{
		from: addr, domain: domain, publicURL: strings.TrimRight(publicURL, "/"),
		text: text, html: html,
	}, nil
}

// templateData is what the templates see. One-line fields (name, title, place, link) are
// flattened with oneLine; the note keeps its lines. html/template escapes all of it in the
// HTML part.
type templateData struct {
	Subject   string
	Name      string
	Note      string
	PublicURL string
	Event     *eventView
	// Transactional is set on emails about the account itself (messages.EmailKind's
	// Transactional), which say so and that they are sent whatever the person's email
	// preferences.
	Transactional bool
	// Link is the link the email is about: the confirmation, reset, forgot-password or
	// consent page. Expires is when its token stops working ("" when not known).
	Link    string
	Expires string
	// Token is the confirmation token of welcome and confirm emails, for API users.
	Token string
	// NewEmail is the address an account changes to (email_changed).
	NewEmail string
	// Requester is the display name of the account that set a reminder for someone else,
	// or that asks for consent.
	Requester string
	// ManageURL is the page that lists the person's reminders, to change or cancel them;
	// UnsubscribeURL stops such emails (List-Unsubscribe), when the request carries a token.
	ManageURL      string
	UnsubscribeURL string
}

type eventView struct {
	Title         string
	Start         string
	PreviousStart string
	Place         string
	OnlineURL     string
	URL           string
}

// MessageID is the Message-ID (without angle brackets) of the email with the given
// idempotency key: derived from the key, so that the rare resend after a crash between the
// SMTP server's acceptance and the record of it is the same message, with the same ID, which
// mail systems recognise as a duplicate.
func MessageID(idempotencyKey, domain string) string {
	sum := sha256.Sum256([]byte(idempotencyKey))
	return hex.EncodeToString(sum[:16]) + "@" + domain
}

// Render builds the email for req, dated now: From, To, Subject, Date, the Message-ID of its
// idempotency key,
// text and HTML alternatives, and on a reminder, event_changed, waitlist_promoted or
// event_cancelled email the event (or its cancellation) as event.ics (see attachCalendar). It returns the
// message and its Message-ID (without angle brackets).
func (r *Renderer) Render(req messages.EmailSend, now time.Time) (*gomail.Msg, string, error) {
	to, err := bareAddress(req.To)
	if err != nil {
		return nil, "", err
	}
	data, err := r.templateData(req)
	if err != nil {
		return nil, "", err
	}
	var text, html bytes.Buffer
	if err := r.text.ExecuteTemplate(&text, string(req.Kind)+".txt", data); err != nil {
		return nil, "", fmt.Errorf("render %s text: %w", req.Kind, err)
	}
	if err := r.html.ExecuteTemplate(&html, string(req.Kind)+".html", data); err != nil {
		return nil, "", fmt.Errorf("render %s html: %w", req.Kind, err)
	}

	messageID := MessageID(req.IdempotencyKey, r.domain)

	m := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	m.FromMailAddress(r.from)
	m.ToMailAddress(&mail.Address{Name: displayName(req.Name, to), Address: to})
	m.SetGenHeaderPreformatted(gomail.HeaderSubject, subjectField(data.Subject))
	m.SetMessageIDWithValue(messageID)
	m.SetDateWithValue(now)
	m.SetGenHeader(gomail.HeaderXMailer, "EventPost")
	setHeaders(m, data)
	m.SetBodyString(gomail.TypeTextPlain, text.String())
	m.AddAlternativeString(gomail.TypeTextHTML, html.String())
	if err := r.attachCalendar(m, req, now); err != nil {
		return nil, "", err
	}
	return m, messageID, nil
}

// attachCalendar attaches the event of a reminder, event_changed or waitlist_promoted email
// as event.ics (METHOD:PUBLISH), and the cancellation of the event of an event_cancelled email (METHOD:CANCEL,
// the same UID, a higher SEQUENCE); the content type names the method. Other kinds get none.
func (r *Renderer) attachCalendar(m *gomail.Msg, req messages.EmailSend, now time.Time) error {
	if req.Event == nil {
		return nil
	}
	var cal []byte
	o := ics.Options{Host: ics.Host(r.publicURL), EventURL: r.eventURL(req.Event.ID), Stamp: now}
	method := ics.Publish
	switch req.Kind {
	case messages.EmailReminder, messages.EmailEventChanged, messages.EmailWaitlistPromoted:
		cal = ics.Render(req.Event.Calendar(), o)
	case messages.EmailEventCancelled:
		method, cal = ics.Cancel, ics.RenderCancel(req.Event.Calendar(), o)
	default:
		return nil
	}
	if err := m.AttachReader("event.ics", bytes.NewReader(cal),
		gomail.WithFileContentType(gomail.ContentType(method.ContentType()))); err != nil {
		return fmt.Errorf("attach event.ics: %w", err)
	}
	return nil
}

// templateData returns what the templates of req's kind show, or ErrInvalidRequest when req
// lacks what its kind needs or names an unknown kind.
func (r *Renderer) templateData(req messages.EmailSend) (templateData, error) {
	data := templateData{
		Name: oneLine(req.Name), Note: req.Note, PublicURL: r.publicURL,
		Transactional: req.Kind.Transactional(), Requester: headerText(req.Requester),
	}
	if req.ExpiresAt != nil {
		data.Expires = req.ExpiresAt.UTC().Format(expiresLayout)
	}
	if err := r.kindData(req, &data); err != nil {
		return templateData{}, err
	}
	var title string
	if data.Event != nil {
		title = data.Event.Title
	}
	subject, err := subjectOf(req.Kind, title)
	if err != nil {
		return templateData{}, err
	}
	data.Subject = headerText(subject)
	return data, nil
}

// kindData fills in what data shows that depends on req's kind: links, the event, the new
// address; ErrInvalidRequest when req lacks what its kind needs.
func (r *Renderer) kindData(req messages.EmailSend, data *templateData) error {
	switch req.Kind {
	case messages.EmailWelcome, messages.EmailConfirm:
		return r.confirmData(req, data)
	case messages.EmailPasswordReset, messages.EmailAccountLocked:
		if !validToken(req.Token) || req.ExpiresAt == nil {
			return fmt.Errorf("%s email without a valid token: %w", req.Kind, ErrInvalidRequest)
		}
		data.Link = r.publicURL + "/reset-password?token=" + url.QueryEscape(req.Token)
	case messages.EmailChanged:
		if _, err := bareAddress(req.NewEmail); err != nil {
			return fmt.Errorf("email_changed email without a valid new address: %w", ErrInvalidRequest)
		}
		data.NewEmail, data.Link = req.NewEmail, r.publicURL+"/forgot-password"
	case messages.EmailConsentRequest:
		if !validToken(req.Token) {
			return fmt.Errorf("%s email without a valid token: %w", req.Kind, ErrInvalidRequest)
		}
		data.Link = r.publicURL + "/consent/" + url.PathEscape(req.Token)
		if req.Event != nil {
			data.Event = r.eventView(*req.Event, nil)
		}
	case messages.EmailWaitlistPromoted:
		// About the person's own attendance, which they asked for, like a transactional email:
		// no List-Unsubscribe (there is nothing to stop but the attendance itself; the email
		// says how to leave), and no link to the reminders page.
		if req.Event == nil {
			return fmt.Errorf("%s email without an event: %w", req.Kind, ErrInvalidRequest)
		}
		data.Event = r.eventView(*req.Event, nil)
	default:
		return r.reminderData(req, data)
	}
	return nil
}

// expiresLayout shows when a link stops working.
const expiresLayout = "15:04 MST, 2 January 2006"

// confirmData fills in the confirmation link of a welcome or confirm email: required on
// confirm, present on welcome when the request carries a token.
func (r *Renderer) confirmData(req messages.EmailSend, data *templateData) error {
	if req.Token == "" && req.Kind == messages.EmailWelcome {
		return nil
	}
	if !validToken(req.Token) {
		return fmt.Errorf("%s email without a valid token: %w", req.Kind, ErrInvalidRequest)
	}
	data.Token = req.Token
	data.Link = r.publicURL + "/confirm-email?token=" + url.QueryEscape(req.Token)
	return nil
}

// reminderData fills in what the emails about an event a person holds a reminder for show:
// the event, the page of the person's reminders and, with a token, the unsubscribe link.
func (r *Renderer) reminderData(req messages.EmailSend, data *templateData) error {
	switch req.Kind {
	case messages.EmailReminder, messages.EmailEventChanged, messages.EmailEventCancelled:
	default:
		return fmt.Errorf("email kind %q: %w", req.Kind, ErrInvalidRequest)
	}
	if req.Event == nil {
		return fmt.Errorf("%s email without an event: %w", req.Kind, ErrInvalidRequest)
	}
	data.Event = r.eventView(*req.Event, req.PreviousStartsAt)
	data.ManageURL = r.publicURL + "/reminders"
	if req.UnsubscribeToken != "" {
		if !validToken(req.UnsubscribeToken) {
			return fmt.Errorf("%s email with an invalid unsubscribe token: %w", req.Kind, ErrInvalidRequest)
		}
		data.UnsubscribeURL = r.publicURL + "/unsubscribe/" + url.PathEscape(req.UnsubscribeToken)
	}
	return nil
}

// subjectOf returns the subject of an email of kind about the event titled title.
func subjectOf(kind messages.EmailKind, title string) (string, error) {
	switch kind {
	case messages.EmailWelcome:
		return "Welcome to EventPost", nil
	case messages.EmailReminder:
		return "Reminder: " + title, nil
	case messages.EmailEventChanged:
		return "Changed: " + title, nil
	case messages.EmailEventCancelled:
		return "Cancelled: " + title, nil
	case messages.EmailPasswordReset:
		return "Set a new EventPost password", nil
	case messages.EmailAccountLocked:
		return "Your EventPost account is locked", nil
	case messages.EmailConfirm:
		return "Confirm your email address for EventPost", nil
	case messages.EmailChanged:
		return "Your EventPost email address is changing", nil
	case messages.EmailConsentRequest:
		return "Someone wants EventPost to email you reminders", nil
	case messages.EmailWaitlistPromoted:
		return "You have a place: " + title, nil
	}
	return "", fmt.Errorf("email kind %q: %w", kind, ErrInvalidRequest)
}

// setHeaders sets the headers that tell mail systems what kind of email this is: every one
// is Auto-Submitted (RFC 3834); one with an unsubscribe link carries it as List-Unsubscribe
// with one-click unsubscribing (RFC 2369, RFC 8058). The link is built from the public URL
// and a token of base64url characters only, so it needs no escaping.
func setHeaders(m *gomail.Msg, data templateData) {
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	if data.UnsubscribeURL != "" {
		m.SetGenHeader("List-Unsubscribe", "<"+data.UnsubscribeURL+">")
		m.SetGenHeader("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
	}
}

// validToken reports whether a link token is what the auth service makes: 16 to 128
// base64url characters, nothing a URL or a template could take for something else.
func validToken(t string) bool {
	return len(t) >= 16 && len(t) <= 128 && base64URLOnly(t)
}

func (r *Renderer) eventURL(id string) string {
	return r.publicURL + "/events/" + url.PathEscape(id)
}

func (r *Renderer) eventView(e messages.Event, previous *time.Time) *eventView {
	loc, err := time.LoadLocation(e.Timezone)
	if err != nil {
		loc = time.UTC
	}
	v := &eventView{
		Title: oneLine(e.Title),
		Start: e.StartsAt.In(loc).Format(startLayout),
		Place: oneLine(ics.Place(e.Location.Calendar())),
		URL:   r.eventURL(e.ID),
	}
	if previous != nil {
		v.PreviousStart = previous.In(loc).Format(startLayout)
	}
	if e.OnlineURL != nil {
		v.OnlineURL = oneLine(*e.OnlineURL)
	}
	return v
}

// bareAddress returns s when it is a bare address ("a@example.com": no display name, no
// angle brackets, no surrounding space), else ErrInvalidRecipient.
func bareAddress(s string) (string, error) {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("recipient %q: %w", s, ErrInvalidRecipient)
	}
	return s, nil
}

// headerText makes user text safe for a header: it is oneLine capped at maxHeaderRunes.
func headerText(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) <= maxHeaderRunes {
		return s
	}
	return string([]rune(s)[:maxHeaderRunes]) + "…"
}

// displayName is the recipient's name made safe for the To header, or "" (the bare address)
// when the header would not read back as that name: a name with "=?", which some clients
// decode as encoded words even inside a quoted string, or one that net/mail encodes in a way
// strict parsers refuse (such as a backslash in an encoded word).
func displayName(name, addr string) string {
	name = headerText(name)
	if name == "" || strings.Contains(name, "=?") {
		return ""
	}
	a, err := mail.ParseAddress((&mail.Address{Name: name, Address: addr}).String())
	if err != nil || a.Name != name {
		return ""
	}
	return name
}

// Limits of a folded header line, CRLF excluded: RFC 5322 §2.1.1 (78) and, for a line that
// holds an encoded word, RFC 2047 §2 (76).
const (
	maxLine        = 78
	maxEncodedLine = 76
)

// subjectField returns the Subject header's value, folded, for s (one line, as headerText
// makes it): what every parser unfolds and decodes to exactly s, with no line past its limit.
// Printable ASCII that folds at its spaces into lines of maxLine is sent as it is. Anything
// else is sent wholly as UTF-8 encoded words, each holding whole characters: non-ASCII text,
// words too long to fold, and text with "=?", which a mail client would otherwise decode as
// encoded words of its own (perhaps into a line break). The first line always holds text: a
// fold right after "Subject:" makes parsers that keep the folding white space (Python's
// email package) read a leading space.
func subjectField(s string) string {
	if plain, ok := foldPlain(s, len("Subject: ")); ok {
		return plain
	}
	const (
		prefix = "=?UTF-8?b?"
		suffix = "?="
	)
	var b strings.Builder
	room := maxEncodedLine - len("Subject: ")
	for len(s) > 0 {
		// Base64 takes 4 characters per 3 bytes: the most whole bytes the line has room for.
		limit := (room - len(prefix) - len(suffix)) / 4 * 3
		n := len(s)
		if n > limit {
			n = 0
			for i := range s { // cut between characters
				if i > limit {
					break
				}
				n = i
			}
		}
		if b.Len() > 0 {
			b.WriteString("\r\n ")
		}
		b.WriteString(prefix + base64.StdEncoding.EncodeToString([]byte(s[:n])) + suffix)
		s, room = s[n:], maxEncodedLine-1
	}
	return b.String()
}

// foldPlain folds s, printable ASCII without "=?", at its spaces into lines of at most maxLine
// characters, the first of which starts used characters in; ok is false when s is something
// else or does not fold so. Folding only puts a CRLF before a space, so unfolding gives s.
func foldPlain(s string, used int) (folded string, ok bool) {
	if strings.Contains(s, "=?") {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < ' ' || s[i] > '~' {
			return "", false
		}
	}
	var b strings.Builder
	line := used
	for i, word := range strings.Split(s, " ") {
		switch {
		case i == 0:
		case line+1+len(word) <= maxLine:
			b.WriteByte(' ')
			line++
		default:
			b.WriteString("\r\n ")
			line = 1
		}
		if line+len(word) > maxLine {
			return "", false
		}
		b.WriteString(word)
		line += len(word)
	}
	return b.String(), true
}

// oneLine flattens user text to one line: control characters (CR and LF included) and other
// white space become one space, invisible format characters (such as bidi overrides) are
// dropped, and leading and trailing space is trimmed.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r) || unicode.IsSpace(r):
			space = b.Len() > 0
		case unicode.IsGraphic(r):
			if space {
				b.WriteByte(' ')
				space = false
			}
			b.WriteRune(r)
		}
	}
	return b.String()
}
