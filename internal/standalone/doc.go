// Package standalone holds one test: that the repository stands alone. No
// tracked file may refer to the team's shared directory beside the
// repository or to an absolute path on someone's machine, and every
// relative link of the Markdown files must lead to a file inside the
// repository. A fresh clone must pass its own tests and run its own
// examples with nothing beside it.
package standalone
