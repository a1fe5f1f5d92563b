"""Archive import: X archives on disk (`files`), stored through the ingestion path (`importer`),
and the `import` command around it (`command`)."""
