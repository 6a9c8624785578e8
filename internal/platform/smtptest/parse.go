package smtptest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// Parsed is a message taken apart: its headers, its text and HTML bodies and its attachments,
// with transfer encodings (quoted-printable, base64) undone.
type Parsed struct {
	// Header holds the top-level headers as transmitted (encoded words not decoded).
	Header mail.Header
	// Text is the first text/plain part that is not an attachment.
	Text string
	// HTML is the first text/html part that is not an attachment.
	HTML string
	// Attachments are the parts with a file name, by file name.
	Attachments map[string]Attachment
}

// Attachment is one attached file.
type Attachment struct {
	// ContentType is the part's media type without parameters, such as "text/calendar".
	ContentType string
	// Params are the parameters of the part's Content-Type.
	Params map[string]string
	Data   []byte
}

// Get returns the named top-level header with RFC 2047 encoded words decoded.
func (p *Parsed) Get(name string) string {
	v := p.Header.Get(name)
	dec := new(mime.WordDecoder)
	if d, err := dec.DecodeHeader(v); err == nil {
		return d
	}
	return v
}

// Parse parses an RFC 5322 message, such as the data of a Message or an .eml file, walking
// nested multipart bodies.
func Parse(raw []byte) (*Parsed, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("smtptest: parse message: %w", err)
	}
	p := &Parsed{Header: m.Header, Attachments: make(map[string]Attachment)}
	if err := p.walk(textproto.MIMEHeader(m.Header), m.Body, 0); err != nil {
		return nil, fmt.Errorf("smtptest: parse message: %w", err)
	}
	return p, nil
}

func (p *Parsed) walk(h textproto.MIMEHeader, body io.Reader, depth int) error {
	if depth > 10 {
		return fmt.Errorf("multipart nested too deep")
	}
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		boundary := params["boundary"]
		if boundary == "" {
			return fmt.Errorf("%s without boundary", mediaType)
		}
		mr := multipart.NewReader(body, boundary)
		for {
			part, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := p.walk(part.Header, part, depth+1); err != nil {
				return err
			}
		}
	}
	data, err := io.ReadAll(decoder(h.Get("Content-Transfer-Encoding"), body))
	if err != nil {
		return fmt.Errorf("%s part: %w", mediaType, err)
	}
	if name := fileName(h, params); name != "" {
		p.Attachments[name] = Attachment{ContentType: mediaType, Params: params, Data: data}
		return nil
	}
	switch {
	case mediaType == "text/plain" && p.Text == "":
		p.Text = string(data)
	case mediaType == "text/html" && p.HTML == "":
		p.HTML = string(data)
	}
	return nil
}

func decoder(cte string, r io.Reader) io.Reader {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		return quotedprintable.NewReader(r)
	case "base64":
		return base64.NewDecoder(base64.StdEncoding, r)
	}
	return r
}

// fileName returns the file name of an attachment part, or "" for an inline body part.
func fileName(h textproto.MIMEHeader, ctParams map[string]string) string {
	if cd := h.Get("Content-Disposition"); cd != "" {
		if disp, params, err := mime.ParseMediaType(cd); err == nil {
			if params["filename"] != "" {
				return params["filename"]
			}
			if disp == "attachment" {
				return ctParams["name"]
			}
		}
	}
	return ctParams["name"]
}
