// Package arch holds no code: its test enforces the layering of the
// packages that docs/ARCHITECTURE.md describes, so that a package never
// reaches above its layer (for example, so that no mirror kind ever imports
// keys or seal).
package arch
