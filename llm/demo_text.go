package llm

import "strings"

// The demo answers. {q} is replaced by a short quote of the question; § by
// a backtick, which a Go raw string cannot hold.
var markdownTicks = strings.NewReplacer("§", "`")

const demoEnglish = `This is the **offline demo model**, so I can't really answer “{q}”, but I can show you how hxchat answers.

The text arrives token by token and is saved as it streams: reload the page or close the tab, and the answer goes on where it was.

Things to try:

- Reload the page while an answer is streaming.
- Open the same conversation in a second tab.
- Ask something in Japanese: the demo answers in Japanese.

And a code block:

§§§go
package main

import "fmt"

func main() {
	fmt.Println("Hello from hxchat")
}
§§§

To talk to a real model, set §AZURE_OPENAI_ENDPOINT§, §AZURE_OPENAI_API_KEY§, §AZURE_OPENAI_API_VERSION§ and §AZURE_OPENAI_DEPLOYMENT§ (Azure OpenAI), or §OPENAI_API_KEY§ and §OPENAI_MODEL§ (OpenAI; add §OPENAI_BASE_URL§ for a compatible server such as Ollama) in §.env§, then restart hxchat.`

const demoJapanese = `これは**オフラインのデモモデル**です。「{q}」に本当にお答えすることはできませんが、hxchat の回答の流れをお見せします。

文章はトークンごとに届き、届くそばから保存されます。ページを再読み込みしても、タブを閉じても、回答は続きから表示されます。

試してみてください：

- 回答の途中でページを再読み込みする
- 同じ会話を別のタブで開く
- 英語で質問すると、英語で答えます

コードブロックの例：

§§§go
package main

import "fmt"

func main() {
	fmt.Println("hxchat からこんにちは")
}
§§§

本物のモデルにつなぐには、§.env§ に §AZURE_OPENAI_ENDPOINT§・§AZURE_OPENAI_API_KEY§・§AZURE_OPENAI_API_VERSION§・§AZURE_OPENAI_DEPLOYMENT§（Azure OpenAI）、または §OPENAI_API_KEY§ と §OPENAI_MODEL§（OpenAI。Ollama などの互換サーバーは §OPENAI_BASE_URL§ も）を設定して、hxchat を再起動してください。`
