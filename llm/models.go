package llm

import (
	"context"
	"iter"

	"github.com/hxchat/hxchat"
)

// Models is a Provider that answers with one of several models, picked per
// request by ChatRequest.Model: several Azure deployments of one resource,
// or several models of one OpenAI-compatible server. The first is the
// default, used when a request names none or one not in the list.
type Models struct {
	list []hxchat.Provider
}

// NewModels returns the provider of the given models; the first is the
// default. It needs at least one.
func NewModels(first hxchat.Provider, more ...hxchat.Provider) *Models {
	return &Models{list: append([]hxchat.Provider{first}, more...)}
}

// Names returns the models' names (Model of each), the default first.
func (m *Models) Names() []string {
	names := make([]string, len(m.list))
	for i, p := range m.list {
		names[i] = p.Model()
	}
	return names
}

// Name implements hxchat.Provider: the default model's name.
func (m *Models) Name() string { return m.list[0].Name() }

// Model implements hxchat.Provider: the default model.
func (m *Models) Model() string { return m.list[0].Model() }

// Stream implements hxchat.Provider with the model req.Model names.
func (m *Models) Stream(ctx context.Context, req hxchat.ChatRequest) iter.Seq2[hxchat.Delta, error] {
	return m.pick(req.Model).Stream(ctx, req)
}

func (m *Models) pick(model string) hxchat.Provider {
	for _, p := range m.list {
		if p.Model() == model {
			return p
		}
	}
	return m.list[0]
}
