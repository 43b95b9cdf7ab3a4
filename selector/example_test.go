package selector_test

import (
	"errors"
	"fmt"

	"github.com/tabby-project/tabby/selector"
)

func Example() {
	sel, err := selector.Parse(`role == 'db' && env in {'prod', 'staging'} || has(debug)`)
	if err != nil {
		panic(err)
	}
	fmt.Println(sel)
	fmt.Println(sel.LabelKeys())
	fmt.Println(sel.Matches(selector.Map{"role": "db", "env": "prod"}))
	fmt.Println(sel.Matches(selector.Map{"role": "db", "env": "dev"}))

	_, err = selector.Parse(`role = 'db'`)
	var pe *selector.ParseError
	if errors.As(err, &pe) {
		fmt.Println(pe.Msg, "at", pe.Pos)
	}
	// Output:
	// ((role == "db" && env in {"prod", "staging"}) || has(debug))
	// [debug env role]
	// true
	// false
	// expected == at 5
}
