"""The one table the query endpoints read: the original benchmark's (name, value) shape."""

from django.db import models


class Item(models.Model):
    name = models.CharField(max_length=100)
    value = models.IntegerField()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"
