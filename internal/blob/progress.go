package blob

import (
	"context"
	"io"
)

type progressKey struct{}

// WithProgress returns a context that carries f, and what ctx carried
// before it. A store that reads over a network calls them (through
// Progress) when an answer begins and as its bytes arrive, so that the
// caller can tell a mirror that answers slowly from one that has stopped
// answering.
func WithProgress(ctx context.Context, f func()) context.Context {
	if outer, ok := ctx.Value(progressKey{}).(func()); ok {
		inner := f
		f = func() { inner(); outer() }
	}
	return context.WithValue(ctx, progressKey{}, f)
}

// Progress reports that bytes of an answer arrived, to the function ctx
// carries, if any.
func Progress(ctx context.Context) {
	if f, ok := ctx.Value(progressKey{}).(func()); ok {
		f()
	}
}

// ProgressReader returns r, reporting each read that returns bytes to the
// function ctx carries; r itself when ctx carries none.
func ProgressReader(ctx context.Context, r io.Reader) io.Reader {
	f, ok := ctx.Value(progressKey{}).(func())
	if !ok {
		return r
	}
	return &progressReader{r, f}
}

type progressReader struct {
	r io.Reader
	f func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.f()
	}
	return n, err
}
